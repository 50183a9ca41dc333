//! `depends_on` gating: a service's containers are created only once each dependency meets its
//! condition (`service_started`, `service_healthy`, `service_completed_successfully`). Waiting
//! reacts to the container's state file being replaced (inotify, see
//! [`crate::runtime::container::watch`]), so a dependent starts within milliseconds of its
//! dependency turning healthy; there is no polling delay.

use std::collections::HashMap;
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use super::Engine;
use super::error::{EngineError, Result};
use super::progress::{Event, ResourceKind, Status};
use crate::compose::model::Condition;
use crate::runtime::container::{ContainerState, HealthStatus, Status as CStatus};

/// How a service's part of the plan ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Its containers exist (and were started unless `--no-start`).
    Ready(Vec<String>),
    /// It failed; the text says why (already reported).
    Failed(String),
}

/// Services' outcomes, published by the worker of each service and awaited by its dependents.
#[derive(Debug, Default)]
pub struct Gates {
    outcomes: Mutex<HashMap<String, Outcome>>,
    changed: Condvar,
}

impl Gates {
    pub fn set(&self, service: &str, outcome: Outcome) {
        if let Ok(mut m) = self.outcomes.lock() {
            m.insert(service.to_string(), outcome);
        }
        self.changed.notify_all();
    }

    /// Blocks until `service` has an outcome.
    pub fn wait(&self, service: &str) -> Outcome {
        let Ok(mut m) = self.outcomes.lock() else {
            return Outcome::Failed("internal lock poisoned".into());
        };
        loop {
            if let Some(o) = m.get(service) {
                return o.clone();
            }
            m = match self.changed.wait(m) {
                Ok(m) => m,
                Err(_) => return Outcome::Failed("internal lock poisoned".into()),
            };
        }
    }
}

/// Re-check at least this often in case a monitor died without writing its state.
const SLICE: Duration = Duration::from_secs(1);

fn settled(condition: Condition, s: &ContainerState) -> bool {
    let exited = s.status == CStatus::Exited;
    match condition {
        Condition::ServiceStarted => s.status != CStatus::Created || exited,
        Condition::ServiceHealthy => {
            exited
                || s.health
                    .as_ref()
                    .is_none_or(|h| h.status != HealthStatus::Starting)
        }
        Condition::ServiceCompletedSuccessfully => exited,
    }
}

impl Engine {
    /// Block until every container in `containers` (of service `dependency`) meets `condition`.
    /// `timeout` bounds the wait (`--wait-timeout`); `None` waits as long as it takes.
    pub fn await_condition(
        &self,
        dependency: &str,
        containers: &[String],
        condition: Condition,
        timeout: Option<Duration>,
    ) -> Result<()> {
        let deadline = timeout.map(|t| Instant::now() + t);
        for name in containers {
            if condition != Condition::ServiceStarted {
                self.emit(Event::new(ResourceKind::Container, name, Status::Waiting));
            }
            let state = self.wait_settled(name, condition, deadline)?;
            self.check(dependency, name, condition, &state)?;
            match condition {
                Condition::ServiceHealthy => {
                    self.emit(Event::new(ResourceKind::Container, name, Status::Healthy))
                }
                Condition::ServiceCompletedSuccessfully => {
                    self.emit(Event::new(ResourceKind::Container, name, Status::Exited))
                }
                Condition::ServiceStarted => {}
            }
        }
        Ok(())
    }

    fn wait_settled(
        &self,
        name: &str,
        condition: Condition,
        deadline: Option<Instant>,
    ) -> Result<ContainerState> {
        loop {
            if self.is_cancelled() {
                return Err(EngineError::Interrupted);
            }
            let slice_end = Instant::now() + SLICE;
            let until = deadline.map_or(slice_end, |d| d.min(slice_end));
            let got = self
                .containers
                .wait_until(name, until, |s| settled(condition, s))?;
            if let Some(s) = got {
                return Ok(s);
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Err(EngineError::Dependency(format!(
                    "container {name} did not become {} in time",
                    match condition {
                        Condition::ServiceHealthy => "healthy",
                        Condition::ServiceCompletedSuccessfully => "completed",
                        Condition::ServiceStarted => "started",
                    }
                )));
            }
        }
    }

    fn check(
        &self,
        dependency: &str,
        name: &str,
        condition: Condition,
        s: &ContainerState,
    ) -> Result<()> {
        let code = s.exit_code.unwrap_or(0);
        match condition {
            Condition::ServiceCompletedSuccessfully if code != 0 => {
                Err(EngineError::NotCompleted {
                    service: dependency.to_string(),
                    code,
                })
            }
            Condition::ServiceHealthy => match &s.health {
                _ if s.status == CStatus::Exited => Err(EngineError::Dependency(format!(
                    "container {name} exited ({code})"
                ))),
                None => Err(EngineError::Dependency(format!(
                    "container {name} has no healthcheck configured"
                ))),
                Some(h) if h.status == HealthStatus::Unhealthy => {
                    let last = h
                        .log
                        .last()
                        .map(|p| {
                            format!(": last check exited {}: {}", p.exit_code, p.output.trim())
                        })
                        .unwrap_or_default();
                    Err(EngineError::Dependency(format!(
                        "container {name} is unhealthy{last}"
                    )))
                }
                Some(_) => Ok(()),
            },
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dependents_wait_for_the_outcome() {
        let gates = std::sync::Arc::new(Gates::default());
        let g = gates.clone();
        let t = std::thread::spawn(move || g.wait("db"));
        std::thread::sleep(Duration::from_millis(20));
        gates.set("db", Outcome::Ready(vec!["p-db-1".into()]));
        assert_eq!(t.join().unwrap(), Outcome::Ready(vec!["p-db-1".into()]));
    }

    #[test]
    fn conditions_settle_on_the_right_states() {
        let mut s = ContainerState::new_created("id", "p-db-1");
        assert!(!settled(Condition::ServiceStarted, &s));
        s.status = CStatus::Running;
        assert!(settled(Condition::ServiceStarted, &s));
        assert!(
            settled(Condition::ServiceHealthy, &s),
            "no healthcheck: settled, then rejected"
        );
        s.health = Some(crate::runtime::container::HealthState {
            status: HealthStatus::Starting,
            failing_streak: 0,
            log: Vec::new(),
        });
        assert!(!settled(Condition::ServiceHealthy, &s));
        assert!(!settled(Condition::ServiceCompletedSuccessfully, &s));
        s.status = CStatus::Exited;
        assert!(settled(Condition::ServiceHealthy, &s));
        assert!(settled(Condition::ServiceCompletedSuccessfully, &s));
    }
}
