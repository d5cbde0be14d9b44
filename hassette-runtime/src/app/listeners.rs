//! The app's listeners ([`Builder::listener`](crate::Builder::listener)) as the app and
//! its services see them.

use std::net::SocketAddr;
use std::sync::Arc;

use crate::{Hassette, ListenerError, ServiceContext};

impl Hassette {
    /// A new handle to the listener `name`, to accept on; the same as
    /// [`ServiceContext::listener`], for code outside the app's services. An error before
    /// [`start`](Self::start) ([`ListenerError::NotOpen`]) and for an unknown name
    /// ([`ListenerError::Unknown`]).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let app = hassette_runtime::Hassette::builder()
    ///     .listener("http", ([127, 0, 0, 1], 0))
    ///     .build()?;
    /// assert!(app.listener("http").is_err()); // not open before `start`
    /// app.start().await?;
    /// let listener = app.listener("http")?;
    /// assert_eq!(listener.local_addr()?, app.listener_addr("http")?);
    /// # app.shutdown().await;
    /// # Ok(()) }
    /// ```
    pub fn listener(&self, name: &str) -> Result<tokio::net::TcpListener, ListenerError> {
        self.inner.listeners().get(name)
    }

    /// The address the listener `name` listens on, once the app has started: the port
    /// the system chose for a listener declared with port 0, or the one socket
    /// activation passed.
    ///
    /// ```
    /// # use hassette_runtime::ListenerError;
    /// let app = hassette_runtime::Hassette::builder()
    ///     .listener("http", ([127, 0, 0, 1], 0))
    ///     .build()?;
    /// assert!(matches!(app.listener_addr("http"), Err(ListenerError::NotOpen { .. })));
    /// # Ok::<(), hassette_runtime::BuildError>(())
    /// ```
    pub fn listener_addr(&self, name: &str) -> Result<SocketAddr, ListenerError> {
        self.inner.listeners().addr(name)
    }

    /// Every open listener's name and address, in the order they were declared (empty
    /// before [`start`](Self::start)).
    ///
    /// ```
    /// let app = hassette_runtime::Hassette::builder().build().unwrap();
    /// assert!(app.listener_addrs().is_empty());
    /// ```
    #[must_use]
    pub fn listener_addrs(&self) -> Vec<(Arc<str>, SocketAddr)> {
        self.inner.listeners().addrs()
    }
}

impl ServiceContext {
    /// A new handle to the app's listener `name` (declared with
    /// [`Builder::listener`](crate::Builder::listener)), to accept connections on.
    ///
    /// Each call gives a handle of its own to the one socket the app keeps open:
    /// dropping it (the run ends, the service restarts) does not close the port, and
    /// clients that connect in between wait in the listen backlog until the next run
    /// accepts them. Several services (or tasks) may accept on the same listener; each
    /// connection goes to one of them. An unknown name is [`ListenerError::Unknown`].
    ///
    /// It is a plain [`tokio::net::TcpListener`], so it goes wherever one does: to axum,
    /// `axum::serve(ctx.listener("http")?, router).with_graceful_shutdown(ctx.cancelled_owned())`;
    /// to hyper, an accept loop like the one below.
    ///
    /// ```
    /// use hassette_runtime::prelude::*;
    /// use tokio::io::AsyncWriteExt;
    ///
    /// struct Hello;
    ///
    /// #[service(restart = "permanent")]
    /// impl Hello {
    ///     async fn serve(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
    ///         let listener = ctx.listener("http")?;
    ///         loop {
    ///             let (mut client, _) = tokio::select! {
    ///                 () = ctx.cancelled() => return Ok(()),
    ///                 accepted = listener.accept() => accepted?,
    ///             };
    ///             client.write_all(b"hello\n").await?;
    ///         }
    ///     }
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), BoxError> {
    /// let app = Hassette::builder()
    ///     .listener("http", ([127, 0, 0, 1], 0))
    ///     .service(Hello)
    ///     .build()?;
    /// app.start().await?;
    /// # use tokio::io::AsyncReadExt;
    /// let mut client = tokio::net::TcpStream::connect(app.listener_addr("http")?).await?;
    /// let mut answer = String::new();
    /// client.read_to_string(&mut answer).await?;
    /// assert_eq!(answer, "hello\n");
    /// # app.shutdown().await;
    /// # Ok(()) }
    /// ```
    pub fn listener(&self, name: &str) -> Result<tokio::net::TcpListener, ListenerError> {
        self.app_state().listeners().get(name)
    }
}
