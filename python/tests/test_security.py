"""Protected clusters from Python: `LocalCluster(security=True)` makes TLS credentials and a
token; its clients compute (Python functions too), strangers are refused."""

import numpy as np
import pytest

import tessera as ts
import tessera.array as ta


def test_a_secure_cluster_computes_for_members_and_refuses_strangers():
    with ts.LocalCluster(n_workers=1, threads_per_worker=1, memory_limit="512MiB",
                         security=True) as cluster:
        sec = cluster.security
        assert sec is not None and sec.token_file and sec.tls_cert
        with ts.Client(cluster, set_as_default=False) as client:
            x = ta.from_array(np.arange(12.0).reshape(3, 4), chunks=2)
            got = client.compute(x.map_blocks(lambda b: b * 2).sum(axis=0)).result()
            np.testing.assert_array_equal(got, (np.arange(12.0).reshape(3, 4) * 2).sum(axis=0))
            assert client.submit(lambda a: a + 1, 41).result() == 42
        # No credentials: the TLS handshake fails. TLS without the token: refused.
        with pytest.raises(ts.ClusterError):
            ts.Client(cluster.scheduler_address, set_as_default=False)
        no_token = ts.Security(tls_ca_file=sec.tls_ca_file, tls_cert=sec.tls_cert,
                               tls_key=sec.tls_key)
        with pytest.raises(ts.ClusterError, match="token"):
            ts.Client(cluster.scheduler_address, security=no_token, set_as_default=False)
        # The same files, passed explicitly, let a second client in.
        with ts.Client(cluster.scheduler_address, security=sec, set_as_default=False) as c:
            assert len(c.scheduler_info()["workers"]) == 1


def test_half_a_tls_configuration_is_refused():
    with pytest.raises(ValueError, match="all three"):
        ts.Security(tls_cert="cert.pem")
    with pytest.raises(TypeError):
        ts.Client("127.0.0.1:1", security="token")
