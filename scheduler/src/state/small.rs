//! A list that stores up to `N` items inline and spills to the heap beyond that.
//! Most tasks have one to four inputs and one or two dependents: no allocation, no extra cache miss.

/// Up to `N` `Copy` items inline, more on the heap.
#[derive(Clone, Debug)]
pub enum SmallList<T: Copy + Default, const N: usize> {
    /// `len` items in `items[..len]`.
    Inline {
        /// Number of items.
        len: u8,
        /// Storage.
        items: [T; N],
    },
    /// More than `N` items (or once spilled).
    Heap(Vec<T>),
}

impl<T: Copy + Default, const N: usize> Default for SmallList<T, N> {
    fn default() -> Self {
        SmallList::Inline {
            len: 0,
            items: [T::default(); N],
        }
    }
}

impl<T: Copy + Default, const N: usize> SmallList<T, N> {
    /// The items.
    #[inline]
    pub fn as_slice(&self) -> &[T] {
        match self {
            SmallList::Inline { len, items } => &items[..*len as usize],
            SmallList::Heap(v) => v,
        }
    }

    /// Append an item.
    pub fn push(&mut self, item: T) {
        match self {
            SmallList::Inline { len, items } if (*len as usize) < N => {
                items[*len as usize] = item;
                *len += 1;
            }
            SmallList::Inline { len, items } => {
                let mut v = Vec::with_capacity(2 * N);
                v.extend_from_slice(&items[..*len as usize]);
                v.push(item);
                *self = SmallList::Heap(v);
            }
            SmallList::Heap(v) => v.push(item),
        }
    }

    /// Keep only the items for which `keep` is true (order preserved).
    pub fn retain(&mut self, mut keep: impl FnMut(&T) -> bool) {
        match self {
            SmallList::Inline { len, items } => {
                let mut w = 0;
                for r in 0..*len as usize {
                    if keep(&items[r]) {
                        items[w] = items[r];
                        w += 1;
                    }
                }
                *len = w as u8;
            }
            SmallList::Heap(v) => v.retain(|x| keep(x)),
        }
    }
}

impl<T: Copy + Default, const N: usize> std::ops::Deref for SmallList<T, N> {
    type Target = [T];

    #[inline]
    fn deref(&self) -> &[T] {
        self.as_slice()
    }
}

impl<T: Copy + Default, const N: usize> FromIterator<T> for SmallList<T, N> {
    fn from_iter<I: IntoIterator<Item = T>>(iter: I) -> Self {
        let mut l = SmallList::default();
        for x in iter {
            l.push(x);
        }
        l
    }
}
