//! `up` (and `create`): converge the project's containers on the Compose file. Images first,
//! then networks and volumes, then every service on its own worker thread: it waits for its
//! dependencies' conditions, applies its part of the plan (remove extra replicas, recreate,
//! create, start, restart) and publishes its outcome to its dependents. Independent services
//! thus proceed in parallel and a service starts the moment its dependencies are ready.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::{Condvar, Mutex};
use std::time::Duration;

use super::Engine;
use super::error::{EngineError, Result};
use super::gate::{Gates, Outcome};
use super::images::ServiceImage;
use super::progress::{Event, ResourceKind, Status};
use super::project::ProjectContext;
use crate::compose::model::{Condition, ServiceConfig, config_hash};
use crate::plan::diff::{self, Action, Desired, Observed};
use crate::plan::graph::ServiceGraph;
use crate::runtime::container::Runtime;
use crate::runtime::image::PullPolicy;
use crate::runtime::network::PortBinding;

#[derive(Debug, Clone, Default)]
pub struct UpOptions {
    /// Services to act on (empty: all of the project's enabled services).
    pub services: Vec<String>,
    /// `--scale SERVICE=N`.
    pub scale: Vec<(String, u32)>,
    pub force_recreate: bool,
    pub no_recreate: bool,
    /// With `named`: force-recreate the named services' dependencies.
    pub always_recreate_deps: bool,
    /// Services named on the command line (their dependencies come along unless `no_deps`).
    pub named: Vec<String>,
    /// Do not wait for dependencies outside `services`.
    pub no_deps: bool,
    /// Create containers but do not start them (`create`, `up --no-start`).
    pub no_start: bool,
    /// `-V`: recreate anonymous volumes instead of keeping them.
    pub renew_anon_volumes: bool,
    pub remove_orphans: bool,
    pub pull: Option<PullPolicy>,
    /// `--build` / `--no-build` and the build options.
    pub build: super::build::UpBuild,
    /// `--wait`: return once every container is running/healthy.
    pub wait: bool,
    pub wait_timeout: Option<Duration>,
    /// Stop timeout for containers that are recreated or removed.
    pub timeout: Option<Duration>,
}

/// What `up` did.
#[derive(Debug, Clone, Default)]
pub struct UpReport {
    /// The selected services' containers, in service order (what attached mode follows).
    pub containers: Vec<(String, String)>,
    /// Containers this `up` created or started (what Ctrl-C stops).
    pub started: Vec<String>,
    /// Orphans left in place (a warning was emitted).
    pub orphans: Vec<String>,
}

/// What `up` decided, handed to the service workers.
#[derive(Clone, Copy)]
struct Plan<'a> {
    ctx: &'a ProjectContext,
    graph: &'a ServiceGraph,
    selected: &'a [&'a ServiceConfig],
    actions: &'a [Action],
    observed: &'a [Observed],
    images: &'a BTreeMap<String, ServiceImage>,
}

/// A counting semaphore for `--parallel`.
struct Limit {
    free: Mutex<Option<usize>>,
    cv: Condvar,
}

impl Limit {
    fn new(n: Option<usize>) -> Self {
        Limit {
            free: Mutex::new(n),
            cv: Condvar::new(),
        }
    }

    fn run<T>(&self, f: impl FnOnce() -> T) -> T {
        if let Ok(mut g) = self.free.lock() {
            while *g == Some(0) {
                g = match self.cv.wait(g) {
                    Ok(g) => g,
                    Err(_) => return f(),
                };
            }
            if let Some(n) = g.as_mut() {
                *n -= 1;
            }
        }
        let out = f();
        if let Ok(mut g) = self.free.lock()
            && let Some(n) = g.as_mut()
        {
            *n += 1;
        }
        self.cv.notify_one();
        out
    }
}

impl Engine {
    pub fn up(&self, ctx: &ProjectContext, opts: &UpOptions) -> Result<UpReport> {
        let _lock = self.lock(&ctx.name)?;
        self.sweep();
        self.await_stops(&ctx.name)?;
        let graph = ServiceGraph::new(&ctx.project)?;
        let selected = selected_services(ctx, &opts.services)?;
        self.build_for_up(ctx, &selected, &opts.build)?;
        let images = self.resolve_images(&ctx.name, selected.iter().copied(), opts.pull)?;
        let desired: Vec<Desired> = selected
            .iter()
            .map(|s| Desired {
                service: s.name.clone(),
                replicas: ctx.replicas(s, &opts.scale),
                config_hash: config_hash(s),
                image_id: images[&s.name].image.id.to_string(),
            })
            .collect();
        let names: BTreeSet<&str> = selected.iter().map(|s| s.name.as_str()).collect();
        let observed: Vec<_> = self
            .project_containers(&ctx.name, false)?
            .into_iter()
            .filter(|c| names.contains(c.service()) || !ctx.declares(c.service()))
            .map(|c| c.observed())
            .collect();
        let mut actions = diff::diff(
            &desired,
            &observed,
            &graph,
            diff::Options {
                force_recreate: opts.force_recreate,
                no_recreate: opts.no_recreate,
                remove_orphans: opts.remove_orphans,
            },
        );
        if opts.always_recreate_deps && !opts.named.is_empty() {
            force_dependencies(&mut actions, &observed, &opts.named);
        }
        self.preflight_ports(ctx, &actions, &images)?;
        self.ensure_networks(ctx)?;
        self.ensure_volumes(ctx)?;
        let mut report = UpReport::default();
        self.handle_orphans(&actions, opts, &mut report)?;
        let plan = Plan {
            ctx,
            graph: &graph,
            selected: &selected,
            actions: &actions,
            observed: &observed,
            images: &images,
        };
        let (started, containers) = self.run_services(&plan, opts)?;
        report.started = started;
        report.containers = containers;
        if opts.wait && !opts.no_start {
            self.wait_ready(ctx, &graph, &report.containers, opts.wait_timeout)?;
        }
        Ok(report)
    }

    fn handle_orphans(
        &self,
        actions: &[Action],
        opts: &UpOptions,
        report: &mut UpReport,
    ) -> Result<()> {
        for a in actions {
            match a {
                Action::Remove {
                    container,
                    why: diff::Why::Orphan,
                } => {
                    let _ = self.stop_container(container, opts.timeout);
                    self.remove_container(container, false)?;
                }
                Action::ReportOrphan { container, .. } => report.orphans.push(container.clone()),
                _ => {}
            }
        }
        if !report.orphans.is_empty() {
            self.emit(
                Event::new(ResourceKind::Container, report.orphans.join(", "), Status::Warning)
                    .with_detail(format!(
                        "Found orphan containers ([{}]) for this project. If you removed or renamed this service in your compose file, you can run this command with the --remove-orphans flag to clean it up.",
                        report.orphans.join(" ")
                    )),
            );
        }
        Ok(())
    }

    /// Fail before anything is created when a fixed host port is taken by someone else.
    fn preflight_ports(
        &self,
        ctx: &ProjectContext,
        actions: &[Action],
        images: &BTreeMap<String, ServiceImage>,
    ) -> Result<()> {
        let mut services: BTreeSet<&str> = BTreeSet::new();
        for a in actions {
            match a {
                Action::Create { service, .. } | Action::Recreate { service, .. } => {
                    services.insert(service);
                }
                _ => {}
            }
        }
        let ours: BTreeSet<(crate::runtime::network::Protocol, u16)> = {
            let project_containers: BTreeSet<String> = self
                .project_containers(&ctx.name, true)?
                .iter()
                .map(|c| c.name().to_string())
                .collect();
            self.network
                .state()?
                .ports
                .iter()
                .filter(|p| project_containers.contains(&p.owner))
                .map(|p| (p.protocol, p.host_port))
                .collect()
        };
        let mut bindings = Vec::new();
        for name in services {
            let (Some(svc), Some(img)) = (ctx.service(name), images.get(name)) else {
                continue;
            };
            let plan = super::service_spec::container_plan(
                &ctx.spec_context(None),
                svc,
                1,
                &img.image,
                img.raw_config.as_ref(),
            )?;
            for p in &plan.ports {
                let Some((lo, hi)) = p.host else { continue };
                if lo != hi {
                    continue;
                }
                if ours.contains(&(p.protocol, lo)) {
                    continue;
                }
                bindings.extend(PortBinding::expand_range(
                    p.protocol,
                    p.host_ip,
                    p.host,
                    p.container,
                    std::net::Ipv4Addr::UNSPECIFIED,
                )?);
            }
        }
        self.network.check_ports(&bindings)?;
        Ok(())
    }

    /// Create the project's networks (and check its external ones exist).
    pub fn ensure_networks(&self, ctx: &ProjectContext) -> Result<()> {
        for n in &ctx.networks {
            let existing = self.network.network(&n.name)?;
            let exists = existing.is_some();
            // Fast path of a no-op `up`: the network and its bridge are there (after a reboot
            // the bridge is gone and `ensure_network` puts it back).
            if existing.is_some_and(|i| Path::new("/sys/class/net").join(&i.ifname).exists()) {
                continue;
            }
            if n.external {
                if !exists {
                    return Err(EngineError::ExternalNetwork {
                        name: n.name.clone(),
                    });
                }
                continue;
            }
            if !exists {
                self.emit(Event::new(ResourceKind::Network, &n.name, Status::Creating));
            }
            self.network.ensure_network(&n.spec)?;
            if !exists {
                self.emit(Event::new(ResourceKind::Network, &n.name, Status::Created));
            }
        }
        Ok(())
    }

    /// Create the project's named volumes (and check its external ones exist).
    pub fn ensure_volumes(&self, ctx: &ProjectContext) -> Result<()> {
        let layout = self.containers.layout().clone();
        for v in &ctx.volumes {
            let exists = layout.volume_data(&v.name).is_dir();
            if v.external {
                if !exists {
                    return Err(EngineError::ExternalVolume {
                        name: v.name.clone(),
                    });
                }
                continue;
            }
            if !exists {
                self.emit(Event::new(ResourceKind::Volume, &v.name, Status::Creating));
                crate::runtime::container::volumes::ensure_volume(&layout, &v.name)?;
                self.emit(Event::new(ResourceKind::Volume, &v.name, Status::Created));
            }
        }
        Ok(())
    }

    /// Runs every service's worker; the containers started, and every container of the selected
    /// services after the run as `(service, name)` in service order (what `--wait` watches).
    fn run_services(&self, plan: &Plan<'_>, opts: &UpOptions) -> Result<Started> {
        let Plan {
            ctx,
            graph,
            selected,
            actions,
            observed,
            images,
        } = *plan;
        let gates = Gates::default();
        let limit = Limit::new(self.parallel());
        let in_run: BTreeSet<&str> = selected.iter().map(|s| s.name.as_str()).collect();
        let started = Mutex::new(Vec::new());
        let results: Vec<(String, Result<Vec<String>>)> = std::thread::scope(|scope| {
            let workers: Vec<_> = selected
                .iter()
                .map(|svc| {
                    let mine: Vec<&Action> = actions
                        .iter()
                        .filter(|a| action_service(a, observed) == Some(svc.name.as_str()))
                        .collect();
                    let (gates, limit, in_run, started) = (&gates, &limit, &in_run, &started);
                    let worker = ServiceWorker {
                        engine: self,
                        ctx,
                        graph,
                        service: svc,
                        image: &images[&svc.name],
                        opts,
                        observed,
                    };
                    scope.spawn(move || {
                        let r = worker.run(&mine, gates, limit, in_run, started);
                        let outcome = match &r {
                            Ok(names) => Outcome::Ready(names.clone()),
                            Err(e) => Outcome::Failed(e.to_string()),
                        };
                        gates.set(&svc.name, outcome);
                        (svc.name.clone(), r)
                    })
                })
                .collect();
            workers
                .into_iter()
                .map(|w| {
                    w.join().unwrap_or_else(|_| {
                        (
                            String::new(),
                            Err(EngineError::Other("a service worker panicked".into())),
                        )
                    })
                })
                .collect()
        });
        let mut containers = Vec::new();
        for (service, r) in results {
            let mut names = r?;
            names.sort_by_key(|n| container_number(n));
            containers.extend(names.into_iter().map(|n| (service.clone(), n)));
        }
        Ok((started.into_inner().unwrap_or_default(), containers))
    }

    /// `--wait`: every container running, and healthy when it has a healthcheck; one-shot
    /// containers others wait for with `service_completed_successfully` may have exited 0.
    fn wait_ready(
        &self,
        ctx: &ProjectContext,
        graph: &ServiceGraph,
        containers: &[(String, String)],
        timeout: Option<Duration>,
    ) -> Result<()> {
        let one_shot: BTreeSet<String> = ctx
            .project
            .services
            .keys()
            .flat_map(|s| graph.dependencies(s))
            .filter(|(_, e)| e.condition == Condition::ServiceCompletedSuccessfully)
            .map(|(d, _)| d)
            .collect();
        for (service, name) in containers {
            let info = self.containers.inspect(name)?;
            let condition = if one_shot.contains(service) {
                Condition::ServiceCompletedSuccessfully
            } else if info.state.health.is_some() {
                Condition::ServiceHealthy
            } else {
                Condition::ServiceStarted
            };
            self.await_condition(service, std::slice::from_ref(name), condition, timeout)?;
            let state = self.containers.inspect(name)?.state;
            if condition != Condition::ServiceCompletedSuccessfully
                && state.status == crate::runtime::container::Status::Exited
            {
                return Err(EngineError::Other(format!(
                    "container {name} exited ({})",
                    state.exit_code.unwrap_or(0)
                )));
            }
            if condition == Condition::ServiceStarted {
                self.emit(Event::new(ResourceKind::Container, name, Status::Healthy));
            }
        }
        Ok(())
    }
}

/// `--always-recreate-deps`: containers of services that are not named (so are there as
/// dependencies) are recreated even when unchanged.
/// `run_services`' result: the containers started, and `(service, container)` of the run.
type Started = (Vec<String>, Vec<(String, String)>);

/// The replica number a container name ends with (`proj-web-12` -> 12), for ordering.
fn container_number(name: &str) -> u32 {
    name.rsplit(['-', '_'])
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

fn force_dependencies(actions: &mut [Action], observed: &[Observed], named: &[String]) {
    for a in actions.iter_mut() {
        let (Action::Keep { container } | Action::Start { container }) = a else {
            continue;
        };
        let Some(o) = observed.iter().find(|o| &o.name == container) else {
            continue;
        };
        if !named.contains(&o.service) {
            *a = Action::Recreate {
                container: o.name.clone(),
                service: o.service.clone(),
                number: o.number,
                why: diff::Why::Forced,
            };
        }
    }
}

/// The services to act on: the named ones (they exist and are enabled), or all.
fn selected_services<'a>(
    ctx: &'a ProjectContext,
    names: &[String],
) -> Result<Vec<&'a ServiceConfig>> {
    if names.is_empty() {
        return Ok(ctx.project.services.values().collect());
    }
    let mut out = Vec::new();
    for n in names {
        out.push(
            ctx.service(n)
                .ok_or_else(|| EngineError::NoSuchService(n.clone()))?,
        );
    }
    // Keep the project's order (the order workers are spawned in, and events appear).
    out.sort_by_key(|s| ctx.project.services.get_index_of(&s.name));
    Ok(out)
}

/// The service an action belongs to (orphans belong to none).
fn action_service<'a>(a: &'a Action, observed: &'a [Observed]) -> Option<&'a str> {
    let of = |c: &str| {
        observed
            .iter()
            .find(|o| o.name == c)
            .map(|o| o.service.as_str())
    };
    match a {
        Action::Create { service, .. } | Action::Recreate { service, .. } => Some(service),
        Action::Keep { container }
        | Action::Start { container }
        | Action::Restart { container, .. } => of(container),
        Action::Remove {
            container,
            why: diff::Why::ScaledDown,
        } => of(container),
        _ => None,
    }
}

/// The work of one service during `up`.
struct ServiceWorker<'a> {
    engine: &'a Engine,
    ctx: &'a ProjectContext,
    graph: &'a ServiceGraph,
    service: &'a ServiceConfig,
    image: &'a ServiceImage,
    opts: &'a UpOptions,
    observed: &'a [Observed],
}

impl ServiceWorker<'_> {
    fn run(
        &self,
        actions: &[&Action],
        gates: &Gates,
        limit: &Limit,
        in_run: &BTreeSet<&str>,
        started: &Mutex<Vec<String>>,
    ) -> Result<Vec<String>> {
        self.await_dependencies(gates, in_run)?;
        let mut names = Vec::new();
        let mut to_start = Vec::new();
        for a in actions {
            if self.engine.is_cancelled() {
                return Err(EngineError::Interrupted);
            }
            limit.run(|| self.apply(a, &mut names, &mut to_start))?;
        }
        if !self.opts.no_start {
            for name in &to_start {
                limit.run(|| self.engine.start_container(name))?;
                if let Ok(mut s) = started.lock() {
                    s.push(name.clone());
                }
            }
        }
        Ok(names)
    }

    fn await_dependencies(&self, gates: &Gates, in_run: &BTreeSet<&str>) -> Result<()> {
        for (dep, edge) in self.graph.dependencies(&self.service.name) {
            if !in_run.contains(dep.as_str()) {
                continue;
            }
            let waited = match gates.wait(&dep) {
                Outcome::Failed(why) => Err(EngineError::Dependency(format!(
                    "service {dep:?} failed: {why}"
                ))),
                Outcome::Ready(_) if self.opts.no_start => Ok(()),
                Outcome::Ready(containers) => {
                    self.engine
                        .await_condition(&dep, &containers, edge.condition, None)
                }
            };
            match waited {
                Err(e) if !edge.required && !matches!(e, EngineError::Interrupted) => {
                    self.engine.emit(
                        Event::new(ResourceKind::Container, &dep, Status::Warning)
                            .with_detail(format!("optional dependency {dep:?} is not ready: {e}")),
                    );
                }
                other => other?,
            }
        }
        Ok(())
    }

    fn apply(
        &self,
        action: &Action,
        names: &mut Vec<String>,
        to_start: &mut Vec<String>,
    ) -> Result<()> {
        let e = self.engine;
        match action {
            Action::Keep { container } => {
                e.emit(Event::new(
                    ResourceKind::Container,
                    container,
                    Status::Running,
                ));
                names.push(container.clone());
            }
            Action::Start { container } => {
                if e.can_start(container)? {
                    to_start.push(container.clone());
                    names.push(container.clone());
                } else {
                    let number = self
                        .observed
                        .iter()
                        .find(|o| &o.name == container)
                        .map_or(1, |o| o.number);
                    self.replace(container, number, names, to_start)?;
                }
            }
            Action::Create { number, .. } => {
                let name = e.create_container(
                    self.ctx,
                    self.service,
                    *number,
                    self.image,
                    None,
                    BTreeMap::new(),
                )?;
                to_start.push(name.clone());
                names.push(name);
            }
            Action::Recreate {
                container, number, ..
            } => {
                e.emit(Event::new(
                    ResourceKind::Container,
                    container,
                    Status::Recreate,
                ));
                self.replace(container, *number, names, to_start)?;
                e.emit(Event::new(
                    ResourceKind::Container,
                    container,
                    Status::Recreated,
                ));
            }
            Action::Restart { container, .. } => {
                e.emit(Event::new(
                    ResourceKind::Container,
                    container,
                    Status::Restarting,
                ));
                e.stop_container(container, self.opts.timeout)?;
                to_start.push(container.clone());
                names.push(container.clone());
            }
            Action::Remove { container, .. } => {
                e.stop_container(container, self.opts.timeout)?;
                e.remove_container(container, true)?;
            }
            Action::ReportOrphan { .. } => {}
        }
        Ok(())
    }

    fn replace(
        &self,
        old: &str,
        number: u32,
        names: &mut Vec<String>,
        to_start: &mut Vec<String>,
    ) -> Result<()> {
        let e = self.engine;
        // Anonymous volumes move to the new container unless `-V` asks for fresh ones.
        let inherit = match self.opts.renew_anon_volumes {
            true => BTreeMap::new(),
            false => e.containers.anonymous_volumes_by_target(old)?,
        };
        let _ = e.stop_container(old, self.opts.timeout);
        e.remove_container(old, inherit.is_empty())?;
        let name = e.create_container(
            self.ctx,
            self.service,
            number,
            self.image,
            None,
            inherit.clone(),
        )?;
        let kept = e.containers.anonymous_volumes_by_target(&name)?;
        for (target, volume) in inherit {
            if kept.get(&target) != Some(&volume) {
                e.containers.remove_volume(&volume)?;
            }
        }
        to_start.push(name.clone());
        names.push(name);
        Ok(())
    }
}
