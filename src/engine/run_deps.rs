//! What `run` does before it creates its one-off container, as docker compose's
//! `startDependencies` + `waitDependencies`: bring up every other service of the loaded project
//! (the run service's dependencies, transitively) and wait for the conditions the run service
//! declares on its direct dependencies.

use super::Engine;
use super::error::{EngineError, Result};
use super::progress::{Event, ResourceKind, Status};
use super::project::ProjectContext;
use super::up::UpOptions;
use crate::plan::graph::ServiceGraph;

impl Engine {
    /// Start the services of `ctx` other than `service` (`ctx` holds `service` and its
    /// dependencies), then wait for `service`'s `depends_on` conditions. A dependency that is
    /// not `required` only warns when it is not ready.
    pub fn start_run_dependencies(&self, ctx: &ProjectContext, service: &str) -> Result<()> {
        let others: Vec<String> = ctx
            .project
            .services
            .keys()
            .filter(|s| *s != service)
            .cloned()
            .collect();
        if others.is_empty() {
            return Ok(());
        }
        let report = self.up(
            ctx,
            &UpOptions {
                services: others,
                ..UpOptions::default()
            },
        )?;
        let graph = ServiceGraph::new(&ctx.project)?;
        for (dep, edge) in graph.dependencies(service) {
            let containers: Vec<String> = report
                .containers
                .iter()
                .filter(|(s, _)| *s == dep)
                .map(|(_, c)| c.clone())
                .collect();
            match self.await_condition(&dep, &containers, edge.condition, None) {
                Err(e) if !edge.required && !matches!(e, EngineError::Interrupted) => {
                    self.emit(
                        Event::new(ResourceKind::Container, &dep, Status::Warning)
                            .with_detail(format!("optional dependency {dep:?} is not ready: {e}")),
                    );
                }
                other => other?,
            }
        }
        Ok(())
    }
}
