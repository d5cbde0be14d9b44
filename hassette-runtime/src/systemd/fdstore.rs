//! The app's listeners ([`Builder::listener`](crate::Builder::listener)) go to systemd's
//! file-descriptor store: `FDSTORE=1` and `FDNAME=<listener>`, the descriptor attached
//! (`SCM_RIGHTS`), through `sd-notify`'s `notify_with_fds`. On `systemctl restart` (or
//! a restart after a crash) systemd passes them to the next process under those names
//! (`LISTEN_FDS`, `LISTEN_FDNAMES`), whose listeners take them instead of binding: the
//! port never closes. systemd keeps only as many as `FileDescriptorStoreMax=` allows,
//! and a socket it has already stored is not stored twice.

use std::os::fd::AsFd;

use sd_notify::NotifyState;

use crate::Hassette;

/// Whether the listeners have been handed over.
#[derive(Debug, Default)]
pub(super) struct Store {
    sent: bool,
}

impl Store {
    /// Hands every listener to the store once they are open (the start opens them all
    /// at once, before any service runs); does nothing after the first time.
    pub(super) fn send(&mut self, app: &Hassette) {
        if self.sent {
            return;
        }
        let open = app.listener_addrs();
        if open.is_empty() {
            return;
        }
        self.sent = true;
        for (name, _) in open {
            let sent = app
                .listener(&name)
                .map_err(std::io::Error::other)
                .and_then(|listener| {
                    let states = [NotifyState::FdStore, NotifyState::FdName(&name)];
                    sd_notify::notify_with_fds(&states, &[listener.as_fd()])
                });
            match sent {
                Ok(()) => tracing::debug!(listener = %name, "sent to systemd's descriptor store"),
                Err(error) => {
                    tracing::warn!(listener = %name, %error, "cannot send to systemd's descriptor store");
                }
            }
        }
    }
}
