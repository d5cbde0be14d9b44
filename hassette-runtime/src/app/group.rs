//! [`GroupBuilder`]: registering the members of a supervision group.

use std::sync::Arc;
use std::time::Duration;

use crate::{Builder, Resource, Service, Strategy};

/// Registers the members of one group; see [`Builder::group`].
///
/// ```
/// use hassette_runtime::prelude::*;
/// use hassette_runtime::Strategy;
/// use std::time::Duration;
/// # struct Reader; struct Writer;
/// # #[service(restart = "permanent")]
/// # impl Reader { async fn serve(&self, ctx: &ServiceContext) { ctx.cancelled().await } }
/// # #[service(restart = "permanent")]
/// # impl Writer { async fn serve(&self, ctx: &ServiceContext) { ctx.cancelled().await } }
///
/// let app = Hassette::builder()
///     .group("pipeline", Strategy::RestForOne, |g| {
///         g.budget(3, Duration::from_secs(60)).service(Reader).service(Writer)
///     })
///     .build()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use = "a group builder does nothing until it is returned to the builder"]
#[derive(Debug)]
pub struct GroupBuilder {
    pub(crate) builder: Builder,
    pub(crate) gid: usize,
}

impl GroupBuilder {
    /// Adds the one instance of `T` to this group.
    pub fn service<T: Service>(mut self, service: T) -> Self {
        self.builder = self.builder.service(service);
        self
    }

    /// Adds a named instance of `T` to this group.
    pub fn service_named<T: Service>(mut self, name: impl Into<Arc<str>>, service: T) -> Self {
        self.builder = self.builder.service_named(name, service);
        self
    }

    /// Adds a resource to this group.
    pub fn resource<T: Resource>(mut self, resource: T) -> Self {
        self.builder = self.builder.resource(resource);
        self
    }

    /// Adds a nested group, a member of this one.
    pub fn group(
        mut self,
        name: impl Into<Arc<str>>,
        strategy: Strategy,
        members: impl FnOnce(GroupBuilder) -> GroupBuilder,
    ) -> Self {
        self.builder = self.builder.group(name, strategy, members);
        self
    }

    /// The group's own budget: at most `intensity` group restarts within any `period`
    /// (default 5 within 5 minutes); the failure that would need one more escalates.
    ///
    /// Checked at [`Builder::build`] by the rules of a service's budget: an `intensity`
    /// of 0 or a zero `period` is [`BuildError::GroupBudget`](crate::BuildError::GroupBudget).
    ///
    /// ```
    /// use hassette_runtime::{Hassette, Strategy};
    /// use std::time::Duration;
    /// let error = Hassette::builder()
    ///     .group("pipeline", Strategy::OneForAll, |g| g.budget(0, Duration::from_secs(60)))
    ///     .build()
    ///     .unwrap_err();
    /// assert!(error.to_string().starts_with("group `pipeline`: `budget_intensity` must be at least 1"));
    /// ```
    pub fn budget(mut self, intensity: u32, period: Duration) -> Self {
        let def = self.builder.group_def(self.gid);
        def.intensity = intensity;
        def.period = period;
        self
    }
}
