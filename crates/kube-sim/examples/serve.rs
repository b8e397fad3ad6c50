//! Run the simulated apiserver by hand: `cargo run -p kube-sim --example serve -- /tmp/kubeconfig [--http] [--v1beta1]`
//! writes a kubeconfig and serves until Ctrl-C, so real kubectl can be pointed at it while developing.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let path = args
        .iter()
        .find(|a| !a.starts_with("--"))
        .cloned()
        .unwrap_or_else(|| "kubeconfig".into());
    let cfg = kube_sim::SimConfig {
        tls: !args.iter().any(|a| a == "--http"),
        eso_crds: if args.iter().any(|a| a == "--v1beta1") {
            kube_sim::EsoCrds::V1beta1Only
        } else {
            kube_sim::EsoCrds::V1
        },
        port: 0,
    };
    let server = kube_sim::ApiServer::start(cfg).await?;
    std::fs::write(&path, server.kubeconfig(Some("default")))?;
    eprintln!("serving {} ; KUBECONFIG={path}", server.url());
    tokio::signal::ctrl_c().await?;
    server.shutdown().await;
    Ok(())
}
