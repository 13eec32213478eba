//! Generates the scheduler's gRPC service (client stub and server trait) with
//! tonic-build's manual mode: services described in Rust, bincode codec, no protoc.

fn main() {
    let method = |name: &str, route: &str, input: &str, output: &str, streaming: bool| {
        let mut m = tonic_build::manual::Method::builder()
            .name(name)
            .route_name(route)
            .input_type(input)
            .output_type(output)
            .codec_path("crate::rpc::BincodeCodec");
        if streaming {
            m = m.client_streaming().server_streaming();
        }
        m.build()
    };
    let scheduler = tonic_build::manual::Service::builder()
        .name("Scheduler")
        .package("tessera")
        .comment("The scheduler's control plane: worker and client sessions and queries.")
        .method(method(
            "worker_session",
            "WorkerSession",
            "crate::wire::WorkerMessage",
            "crate::wire::SchedulerMessage",
            true,
        ))
        .method(method(
            "client_session",
            "ClientSession",
            "crate::wire::ClientMessage",
            "Vec<crate::wire::ClientEvent>",
            true,
        ))
        .method(method(
            "cluster_info",
            "ClusterInfo",
            "crate::wire::Empty",
            "crate::wire::ClusterInfo",
            false,
        ))
        .method(method(
            "who_has",
            "WhoHas",
            "crate::wire::WhoHasRequest",
            "crate::wire::WhoHasResponse",
            false,
        ))
        .build();
    tonic_build::manual::Builder::new()
        .build_transport(false)
        .compile(&[scheduler]);
}
