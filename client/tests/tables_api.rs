//! The DataFrame API and SQL on a cluster of real processes: sources and sinks, every
//! operation family, DataFrame-vs-SQL agreement, plan-time errors and task errors.

mod common;
mod tables_support;

use datafusion::arrow::array::{ArrayRef, Float64Array, Int64Array, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::functions_aggregate::expr_fn::{avg, count, max, min, sum};
use datafusion::functions_window::expr_fn::row_number;
use datafusion::logical_expr::ExprFunctionExt;
use std::sync::Arc;
use tables_support::*;
use tessera::Error;
use tessera::table::{Context, CsvReadOptions, JoinType, col, lit};

fn people(n: usize) -> Vec<RecordBatch> {
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("city", DataType::Utf8, true),
        Field::new("score", DataType::Float64, false),
    ]));
    let ids: ArrayRef = Arc::new(Int64Array::from_iter_values(0..n as i64));
    let cities: ArrayRef = Arc::new(StringArray::from_iter((0..n).map(|i| match i % 4 {
        0 => Some("Lyon"),
        1 => Some("Oslo"),
        2 => None,
        _ => Some("Quito"),
    })));
    let scores: ArrayRef = Arc::new(Float64Array::from_iter_values(
        (0..n).map(|i| ((i * 37) % 101) as f64 / 7.0),
    ));
    let all = RecordBatch::try_new(schema, vec![ids, cities, scores]).unwrap();
    // Several input batches of uneven sizes.
    vec![all.slice(0, n / 3), all.slice(n / 3, n - n / 3)]
}

fn reference(batches: Vec<RecordBatch>, sql: &str) -> Vec<RecordBatch> {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let ctx = datafusion::prelude::SessionContext::new();
        let schema = batches[0].schema();
        let table = datafusion::datasource::MemTable::try_new(schema, vec![batches]).unwrap();
        ctx.register_table("people", Arc::new(table)).unwrap();
        ctx.sql(sql).await.unwrap().collect().await.unwrap()
    })
}

#[test]
fn dataframe_api_and_sql_agree_and_match_single_node() {
    let cluster = common::cluster(2);
    let client = cluster.client().unwrap();
    let ctx = Context::with_partitions(&client, 3).unwrap();
    ctx.register_batches("people", people(1000), 4).unwrap();
    let df = ctx.table("people").unwrap();

    let sql = "SELECT city, count(*) AS n, sum(score) AS total, avg(score) AS mean, \
               min(id) AS lo, max(id) AS hi FROM people WHERE id % 3 <> 0 \
               GROUP BY city ORDER BY city NULLS LAST";
    let by_sql = ctx.sql(sql).unwrap().collect().unwrap();
    let by_api = df
        .filter((col("id") % lit(3)).not_eq(lit(0)))
        .unwrap()
        .groupby(vec![col("city")])
        .agg(vec![
            count(lit(1)).alias("n"),
            sum(col("score")).alias("total"),
            avg(col("score")).alias("mean"),
            min(col("id")).alias("lo"),
            max(col("id")).alias("hi"),
        ])
        .unwrap()
        .sort(vec![col("city").sort(true, false)])
        .unwrap()
        .collect()
        .unwrap();
    compare(&by_api, &by_sql, true).unwrap();
    compare(&by_sql, &reference(people(1000), sql), true).unwrap();

    // Projection, computed columns, rename, drop, distinct, limit, union.
    let shaped = df
        .with_column("double", col("score") * lit(2.0))
        .unwrap()
        .rename("city", "town")
        .unwrap()
        .drop(&["score"])
        .unwrap();
    assert_eq!(shaped.columns(), vec!["id", "town", "double"]);
    let towns = shaped
        .select_columns(&["town"])
        .unwrap()
        .distinct()
        .unwrap()
        .collect()
        .unwrap();
    assert_eq!(rows(&towns).len(), 4);
    let twice = df.union(&df).unwrap().count().unwrap();
    assert_eq!(twice, 2000);
    let head = df
        .sort(vec![col("id").sort(false, true)])
        .unwrap()
        .head(5)
        .unwrap()
        .collect()
        .unwrap();
    let want = reference(
        people(1000),
        "SELECT * FROM people ORDER BY id DESC LIMIT 5",
    );
    compare(&head, &want, true).unwrap();

    // Window functions.
    let ranked = df
        .window(vec![
            row_number()
                .partition_by(vec![col("city")])
                .order_by(vec![
                    col("score").sort(false, true),
                    col("id").sort(true, true),
                ])
                .build()
                .unwrap()
                .alias("rank"),
        ])
        .unwrap()
        .filter(col("rank").lt_eq(lit(2)))
        .unwrap()
        .select_columns(&["id", "city", "rank"])
        .unwrap()
        .collect()
        .unwrap();
    let want = reference(
        people(1000),
        "SELECT id, city, rank FROM (SELECT id, city, row_number() OVER \
         (PARTITION BY city ORDER BY score DESC, id) AS rank FROM people) WHERE rank <= 2",
    );
    compare(&ranked, &want, false).unwrap();
}

#[test]
fn every_join_type_matches_single_node() {
    let cluster = common::cluster(2);
    let client = cluster.client().unwrap();
    let ctx = Context::with_partitions(&client, 3).unwrap();
    ctx.register_batches("people", people(600), 3).unwrap();
    let left = ctx
        .sql("SELECT id, city FROM people WHERE id < 400")
        .unwrap();
    let right = ctx
        .sql("SELECT id AS rid, score FROM people WHERE id >= 200")
        .unwrap();
    let cases = [
        (JoinType::Inner, "INNER JOIN"),
        (JoinType::Left, "LEFT JOIN"),
        (JoinType::Right, "RIGHT JOIN"),
        (JoinType::Full, "FULL JOIN"),
        (JoinType::LeftSemi, "LEFT SEMI JOIN"),
        (JoinType::LeftAnti, "LEFT ANTI JOIN"),
    ];
    for (how, sql_join) in cases {
        let got = left
            .join(&right, how, &["id"], &["rid"], None)
            .unwrap()
            .collect()
            .unwrap();
        let cols = if matches!(how, JoinType::LeftSemi | JoinType::LeftAnti) {
            "l.id, l.city"
        } else {
            "l.id, l.city, r.rid, r.score"
        };
        let sql = format!(
            "SELECT {cols} FROM (SELECT id, city FROM people WHERE id < 400) l {sql_join} \
             (SELECT id AS rid, score FROM people WHERE id >= 200) r ON l.id = r.rid"
        );
        let by_sql = ctx.sql(&sql).unwrap().collect().unwrap();
        compare(&got, &by_sql, false).unwrap_or_else(|e| panic!("{how:?}: {e}"));
        compare(&by_sql, &reference(people(600), &sql), false)
            .unwrap_or_else(|e| panic!("{how:?} vs single node: {e}"));
    }
    // A join on an expression.
    let got = left
        .join_on(
            &right,
            JoinType::Inner,
            vec![(col("id") + lit(1)).eq(col("rid"))],
        )
        .unwrap()
        .count()
        .unwrap();
    // id + 1 = rid with id < 400 and rid >= 200: ids 199..=399.
    assert_eq!(got, 201);
}

#[test]
fn files_in_and_out_parquet_and_csv() {
    let cluster = common::cluster(2);
    let client = cluster.client().unwrap();
    let ctx = Context::with_partitions(&client, 2).unwrap();
    let dir = tempdir("files");
    // CSV with a header, schema inferred.
    let csv = dir.join("people.csv");
    let mut text = String::from("id,city,score\n");
    for i in 0..300 {
        text.push_str(&format!("{i},c{},{}\n", i % 7, i as f64 / 4.0));
    }
    std::fs::write(&csv, text).unwrap();
    let df = ctx
        .read_csv(
            csv.to_str().unwrap(),
            CsvReadOptions::new().has_header(true),
        )
        .unwrap();
    assert_eq!(df.count().unwrap(), 300);
    // Write Parquet (one file per partition, by the workers), read it back.
    let out = dir.join("out");
    let written = df
        .filter(col("id").gt_eq(lit(100)))
        .unwrap()
        .to_parquet(out.to_str().unwrap())
        .unwrap();
    assert!(!written.is_empty());
    for f in &written {
        assert!(std::path::Path::new(f).exists(), "{f} was not written");
    }
    let back = ctx.read_parquet(out.to_str().unwrap()).unwrap();
    let sums = back
        .aggregate(
            vec![],
            vec![sum(col("id")).alias("s"), count(lit(1)).alias("n")],
        )
        .unwrap()
        .collect()
        .unwrap();
    let r = rows(&sums);
    assert_eq!(
        format!("{:?}", r[0]),
        format!(
            "{:?}",
            vec![
                Cell::Text(((100..300).sum::<i64>()).to_string()),
                Cell::Text("200".into())
            ]
        )
    );
    // Globs and projection pushdown: only one column is read.
    ctx.register_parquet("back", &format!("{}/*.parquet", out.display()))
        .unwrap();
    let plan = ctx.sql("SELECT city FROM back").unwrap().explain().unwrap();
    assert!(plan.contains("projection=[city]"), "{plan}");
}

#[test]
fn explain_shows_the_distributed_stages() {
    let cluster = common::cluster(2);
    let client = cluster.client().unwrap();
    let ctx = Context::with_partitions(&client, 3).unwrap();
    ctx.register_batches("people", people(100), 3).unwrap();
    let text = ctx
        .sql("SELECT city, count(*) FROM people GROUP BY city ORDER BY city")
        .unwrap()
        .explain()
        .unwrap();
    assert!(text.contains("Stage 0"), "{text}");
    assert!(text.contains("shuffle of stage"), "{text}");
    assert!(text.contains("StageInputExec"), "{text}");
    assert!(text.contains("AggregateExec"), "{text}");
}

#[test]
fn bad_queries_are_refused_at_plan_time_with_the_offending_name() {
    let cluster = common::cluster(1);
    let client = cluster.client().unwrap();
    let ctx = Context::with_partitions(&client, 2).unwrap();
    ctx.register_batches("people", people(10), 1).unwrap();
    let plan_err = |r: Result<tessera::table::DataFrame, Error>| match r {
        Err(Error::Plan(m)) => m,
        other => panic!("expected a plan error, got {other:?}"),
    };
    assert!(plan_err(ctx.sql("SELECT nope FROM people")).contains("nope"));
    assert!(plan_err(ctx.sql("SELECT * FROM missing_table")).contains("missing_table"));
    assert!(
        plan_err(ctx.sql("SELEC id FROM people"))
            .to_lowercase()
            .contains("selec")
    );
    assert!(plan_err(ctx.sql("SELECT id + city FROM people")).contains("Utf8"));
    let df = ctx.table("people").unwrap();
    assert!(plan_err(df.select_columns(&["ghost"])).contains("ghost"));
    assert!(plan_err(df.rename("ghost", "x")).contains("ghost"));
    assert!(plan_err(df.drop(&["ghost"])).contains("ghost"));
}

#[test]
fn a_corrupt_parquet_file_errs_the_task_naming_the_file() {
    let cluster = common::cluster(1);
    let client = cluster.client().unwrap();
    let ctx = Context::with_partitions(&client, 2).unwrap();
    let dir = tempdir("corrupt");
    let good = dir.join("good.parquet");
    let batches = people(50);
    {
        let file = std::fs::File::create(&good).unwrap();
        let mut w = parquet::arrow::ArrowWriter::try_new(file, batches[0].schema(), None).unwrap();
        for b in &batches {
            w.write(b).unwrap();
        }
        w.close().unwrap();
    }
    ctx.register_parquet("t", dir.to_str().unwrap()).unwrap();
    // Corrupt the data pages after planning read the footer.
    let df = ctx.sql("SELECT sum(score) FROM t").unwrap();
    let mut bytes = std::fs::read(&good).unwrap();
    let n = bytes.len();
    for b in &mut bytes[4..n / 2] {
        *b = 0xAB;
    }
    std::fs::write(&good, bytes).unwrap();
    match df.collect() {
        Err(Error::Task(t)) => assert!(
            t.message.contains("good.parquet"),
            "the error should name the file: {}",
            t.message
        ),
        other => panic!("expected a task error, got {other:?}"),
    }
}

fn tempdir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("tessera-tables-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn columns_become_arrays_and_arrays_become_tables_on_the_cluster() {
    let cluster = common::cluster(2);
    let client = cluster.client().unwrap();
    let ctx = Context::with_partitions(&client, 3).unwrap();
    ctx.register_batches("people", people(500), 3).unwrap();
    let df = ctx
        .sql("SELECT id, score FROM people WHERE id % 2 = 0")
        .unwrap();
    let ids = df.column_to_array("id").unwrap();
    assert_eq!(ids.shape().unwrap(), &[250]);
    let got: ndarray::Array1<i64> = client.compute(&ids).unwrap();
    let mut got = got.to_vec();
    got.sort();
    assert_eq!(got, (0..500).step_by(2).collect::<Vec<i64>>());
    let scores = df.column_to_array("score").unwrap();
    let total: f64 = client
        .compute::<f64, ndarray::Ix0>(&scores.sum())
        .unwrap()
        .into_scalar();
    let want: f64 = (0..500usize)
        .step_by(2)
        .map(|i| ((i * 37) % 101) as f64 / 7.0)
        .sum();
    assert!((total - want).abs() < 1e-9 * want.abs());
    assert!(matches!(df.column_to_array("nope"), Err(Error::Plan(_))));

    // Arrays to a table: squares beside their roots, queried with SQL.
    let x = tessera::array::arange::<f64>(0.0, 100.0, 1.0, 30);
    let y = &x * &x;
    let table = ctx.from_arrays(&[("x", &x), ("y", &y)]).unwrap();
    ctx.register_dataframe("squares", &table).unwrap();
    let out = ctx
        .sql("SELECT sum(y) AS s, count(*) AS n FROM squares WHERE x >= 50")
        .unwrap()
        .collect()
        .unwrap();
    let r = rows(&out);
    let want_sum: f64 = (50..100).map(|v| (v * v) as f64).sum();
    match (&r[0][0], &r[0][1]) {
        (Cell::Float(s), Cell::Text(n)) => {
            assert_eq!(*s, want_sum);
            assert_eq!(n, "50");
        }
        other => panic!("unexpected row {other:?}"),
    }
}
