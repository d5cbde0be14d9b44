//! Stopping the app: the first reason wins, the waves stop in reverse dependency order,
//! and an optional deadline bounds the whole stop.

use std::sync::Arc;

use tokio::time::Instant;

use crate::app::AppInner;
use crate::{ServiceReport, ShutdownReport};

impl AppInner {
    /// Begins the shutdown without waiting for it; the first reason given is kept.
    pub(crate) fn request_shutdown(self: &Arc<Self>, reason: String) {
        if self.begin_shutdown(reason) {
            let inner = self.clone();
            tokio::spawn(async move { inner.wait_stopped().await });
        }
    }

    /// Returns whether this call began it.
    pub(crate) fn begin_shutdown(&self, reason: String) -> bool {
        let mut slot = self.reason.lock().unwrap_or_else(|e| e.into_inner());
        if slot.is_some() {
            return false;
        }
        tracing::info!(%reason, "shutting down");
        *slot = Some(reason);
        self.stopping.cancel();
        true
    }

    pub(crate) async fn wait_stopped(self: &Arc<Self>) -> ShutdownReport {
        let inner = self.clone();
        self.report.get_or_init(|| inner.stop_all()).await.clone()
    }

    /// Stops the waves in reverse order, each wave's services concurrently.
    pub(crate) async fn stop_all(self: Arc<Self>) -> ShutdownReport {
        let began = Instant::now();
        self.stopping.cancel();
        let mut tasks = std::mem::take(&mut *self.tasks.lock().unwrap_or_else(|e| e.into_inner()));
        let mut reports: Vec<Option<ServiceReport>> =
            self.registry.units.iter().map(|_| None).collect();
        let stop_waves = async {
            for wave in self.waves.iter().rev() {
                if let Some(&first) = wave.first() {
                    self.registry.units[first].stop.cancel(); // the whole wave's token
                }
                for &id in wave {
                    if let Some(task) = tasks[id].as_mut() {
                        let report = task
                            .await
                            .unwrap_or_else(|e| self.lost_report(id, e.to_string()));
                        tasks[id] = None;
                        reports[id] = Some(report);
                    }
                }
            }
        };
        let deadline_exceeded = match self.shutdown_deadline {
            Some(limit) => tokio::time::timeout(limit, stop_waves).await.is_err(),
            None => {
                stop_waves.await;
                false
            }
        };
        for task in tasks.iter().flatten() {
            task.abort();
        }
        if deadline_exceeded {
            tracing::error!("the shutdown deadline ran out; aborted the services still stopping");
        }
        let services = reports
            .into_iter()
            .zip(&self.registry.units)
            .map(|(report, unit)| match report {
                Some(report) => report,
                None if tasks[unit.id].is_some() => {
                    self.lost_report(unit.id, "shutdown deadline exceeded".into())
                }
                None => ServiceReport::new(unit.name.clone()),
            })
            .collect();
        let reason = self
            .reason
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        ShutdownReport {
            services,
            took: began.elapsed(),
            deadline_exceeded,
            reason,
        }
    }

    /// The report of a unit whose supervisor did not hand one back.
    fn lost_report(&self, id: usize, why: String) -> ServiceReport {
        let unit = &self.registry.units[id];
        tracing::error!(service = %unit.name, %why, "service did not finish its stop");
        let mut report = ServiceReport::new(unit.name.clone());
        report.status = unit.status();
        report.restarts = unit.restarts.load(std::sync::atomic::Ordering::Relaxed);
        report.aborted = true;
        report.record("supervisor", Arc::new(std::io::Error::other(why)));
        report
    }
}
