//! Running async work inside a network namespace, without a subprocess: a thread
//! of its own joins the namespace (`setns`, which moves only the calling thread)
//! and runs a current-thread Tokio runtime, so every socket the work opens
//! belongs to that namespace.

use std::future::Future;
use std::io;

use super::NamespaceName;

/// Runs `work` on a new thread, inside network namespace `namespace` (as named
/// under `/run/netns/`, i.e. by `ip netns add`) or in the current one if `None`,
/// and returns its output. Entering a namespace needs `CAP_SYS_ADMIN`.
pub async fn run_in_namespace<F, Fut, T>(
    namespace: Option<&NamespaceName>,
    work: F,
) -> io::Result<T>
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = T>,
    T: Send + 'static,
{
    let path = namespace.map(|name| format!("/run/netns/{name}"));
    let (sender, receiver) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("ferry-netns".to_owned())
        .spawn(move || {
            let _ = sender.send(run_here(path.as_deref(), work));
        })?;
    receiver
        .await
        .map_err(|_| io::Error::other("the namespace thread ended without an answer"))?
}

fn run_here<F, Fut, T>(path: Option<&str>, work: F) -> io::Result<T>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = T>,
{
    if let Some(path) = path {
        let namespace = std::fs::File::open(path)
            .map_err(|error| io::Error::new(error.kind(), format!("{path}: {error}")))?;
        rustix::thread::move_into_link_name_space(
            std::os::fd::AsFd::as_fd(&namespace),
            Some(rustix::thread::LinkNameSpaceType::Network),
        )
        .map_err(|errno| io::Error::other(format!("setns {path}: {errno}")))?;
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    Ok(runtime.block_on(work()))
}
