//! Crash consistency (issue 8): `rcompose` is SIGKILLed at random moments during `up`,
//! `up --scale`, `up --force-recreate`, `up --build` after a source edit, and `down` of a project
//! with two networks, a named volume, a healthcheck gate, `depends_on`, a published port and a
//! service built from a Dockerfile. After every kill the next `up` must converge (every service
//! running with the asked replicas and the latest build, DNS answering with exactly the live
//! replicas, the port serving) and `down -v` must leave nothing on the host. The same for
//! SIGKILLed monitors (`rcompose __monitor`): the container stays listed and can be stopped and
//! removed.
//!
//! The trials are seeded: the seed is printed; `RCOMPOSE_CRASH_SEED=N` replays a run and
//! `RCOMPOSE_CRASH_TRIALS=N` runs longer than CI's default.

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use support::compose::ComposeEnv;
use support::probe::{self, Killed};
use support::residue;

const PROJECT: &str = r#"
x-bb: &bb
  init: true
services:
  db:
    <<: *bb
    image: lab/busybox:1
    command: ["sh", "-c", "mkdir -p /data && echo ready > /data/state && exec httpd -f -p 5432 -h /data"]
    volumes: [dbdata:/data]
    networks: [back]
    healthcheck:
      test: ["CMD-SHELL", "test -f /data/state"]
      interval: 1s
  web:
    <<: *bb
    image: lab/busybox:1
    command: ["httpd", "-f", "-p", "8080", "-h", "/var/www"]
    ports: ["127.0.0.1::8080"]
    networks: [front, back]
    depends_on:
      db: { condition: service_healthy }
  worker:
    <<: *bb
    build: ./worker
    command: ["sleep", "100000"]
    networks: [back]
    depends_on: [db]
volumes:
  dbdata:
networks:
  front:
  back:
"#;

/// The worker's Dockerfile: a COPY and a RUN step, so a rebuild runs a build container.
const WORKER_DOCKERFILE: &str =
    "FROM lab/busybox:1\nCOPY version /version\nRUN cp /version /built\n";

/// CI's number of `rcompose` kills; each trial is a kill plus a converging `up` (~2-3 s).
const DEFAULT_TRIALS: u32 = 40;
/// CI's number of monitor kills.
const DEFAULT_MONITOR_TRIALS: u32 = 8;

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

fn seeded(what: &str) -> StdRng {
    let seed = env_u64("RCOMPOSE_CRASH_SEED").unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64)
    });
    eprintln!("{what}: seed {seed} (replay with RCOMPOSE_CRASH_SEED={seed})");
    StdRng::seed_from_u64(seed)
}

/// What a trial kills.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    /// `up -d` of a project that is down.
    Up,
    /// `up -d --scale worker=N` of a running project.
    Scale(u32),
    /// `up -d --force-recreate`: every container replaced.
    Recreate,
    /// `down` (`-v` or not) of a running project.
    Down { volumes: bool },
    /// `up -d --build` after an edit of the worker's build context.
    Rebuild,
}

impl Op {
    fn kind(self) -> usize {
        match self {
            Op::Up => 0,
            Op::Scale(_) => 1,
            Op::Recreate => 2,
            Op::Down { .. } => 3,
            Op::Rebuild => 4,
        }
    }

    fn args(self, replicas: u32) -> Vec<String> {
        let scale = |n: u32| vec!["--scale".to_string(), format!("worker={n}")];
        let mut v: Vec<String> = match self {
            Op::Up => ["up", "-d"].map(String::from).to_vec(),
            Op::Scale(n) => {
                let mut v = ["up", "-d"].map(String::from).to_vec();
                v.extend(scale(n));
                return v;
            }
            Op::Recreate => ["up", "-d", "--force-recreate"].map(String::from).to_vec(),
            Op::Rebuild => ["up", "-d", "--build"].map(String::from).to_vec(),
            Op::Down { volumes } => {
                let mut v = ["down", "-t", "0"].map(String::from).to_vec();
                if volumes {
                    v.push("-v".into());
                }
                return v;
            }
        };
        v.extend(scale(replicas));
        v
    }
}

/// Counts of what the trials did, printed at the end.
#[derive(Debug, Default)]
struct Tally {
    trials: u32,
    mid_run: [u32; 5],
    after_exit: [u32; 5],
    converged: u32,
    clean_downs: u32,
}

/// One project driven through kills and recoveries.
struct Crasher {
    env: ComposeEnv,
    rng: StdRng,
    /// Worker replicas the project should have when up.
    replicas: u32,
    up: bool,
    /// Wall time of each op kind run to completion: kills land uniformly within it.
    durations: [Duration; 5],
    /// The content of the worker's build context (`version`); the latest must be running.
    version: u32,
    /// The source changed since the last `up --build` that completed.
    needs_build: bool,
    /// Interfaces seen in use: all must be gone after `down -v`.
    ifnames: BTreeSet<String>,
    tally: Tally,
    log: Vec<String>,
}

impl Crasher {
    fn new(prefix: &str, rng: StdRng) -> Self {
        let env = ComposeEnv::new(prefix, PROJECT);
        std::fs::create_dir_all(env.project_dir().join("worker")).expect("worker context");
        env.write("worker/Dockerfile", WORKER_DOCKERFILE);
        env.write("worker/version", "v0\n");
        // A bridge made by a killed command may never have reached the state file.
        let ifnames = residue::bridge_names(&env, &["front", "back"]);
        Crasher {
            env,
            rng,
            replicas: 1,
            up: false,
            durations: [Duration::from_millis(500); 5],
            version: 0,
            needs_build: false,
            ifnames,
            tally: Tally::default(),
            log: Vec::new(),
        }
    }

    fn run_ok(&mut self, args: &[String]) -> Duration {
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let (took, out) = probe::timed(self.env.command(&refs));
        self.log
            .push(format!("{args:?} -> {} in {took:?}", out.status));
        assert!(
            out.status.success(),
            "rcompose {args:?} failed after the kills so far:\n{}\n{}",
            self.log.join("\n"),
            probe::streams(&out)
        );
        took
    }

    /// Run each op once to completion to learn how long it takes.
    fn calibrate(&mut self) {
        for op in [
            Op::Up,
            Op::Scale(3),
            Op::Recreate,
            Op::Rebuild,
            Op::Down { volumes: true },
            Op::Up,
        ] {
            if op == Op::Rebuild {
                self.edit_source();
            }
            let took = self.run_ok(&op.args(self.replicas));
            if let Op::Scale(n) = op {
                self.replicas = n;
            }
            let d = &mut self.durations[op.kind()];
            *d = (*d).max(took);
        }
        self.needs_build = false;
        self.up = true;
        self.converge();
    }

    /// A new `version` in the worker's build context: the next build must pick it up.
    fn edit_source(&mut self) {
        self.version += 1;
        self.env
            .write("worker/version", &format!("v{}\n", self.version));
        self.needs_build = true;
    }

    fn pick_op(&mut self) -> Op {
        if !self.up {
            return Op::Up;
        }
        match self.rng.random_range(0..5) {
            0 => Op::Scale(self.rng.random_range(1..=4)),
            1 => Op::Recreate,
            2 => Op::Rebuild,
            _ => Op::Down {
                volumes: self.rng.random_bool(0.5),
            },
        }
    }

    fn trial(&mut self) {
        let op = self.pick_op();
        if op == Op::Rebuild {
            self.edit_source();
        }
        let limit = self.durations[op.kind()].as_micros() as u64;
        let delay = Duration::from_micros(self.rng.random_range(0..=limit));
        let args = op.args(self.replicas);
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let killed = probe::kill_after(self.env.command(&refs), delay);
        self.log
            .push(format!("{args:?} killed after {delay:?}: {killed:?}"));
        self.tally.trials += 1;
        match killed {
            Killed::MidRun => self.tally.mid_run[op.kind()] += 1,
            Killed::AfterExit { .. } => self.tally.after_exit[op.kind()] += 1,
        }
        if let Op::Scale(n) = op {
            self.replicas = n;
        }
        match op {
            Op::Down { .. } if self.rng.random_bool(0.5) => self.down_clean(),
            _ => {
                self.up = true;
                self.converge();
            }
        }
    }

    /// `up --wait` reaches the desired state from wherever the kill left the project (with
    /// `--build` when the source changed since the last complete build).
    fn converge(&mut self) {
        let mut args = Op::Up.args(self.replicas);
        args.push("--wait".into());
        if self.needs_build {
            args.push("--build".into());
        }
        self.run_ok(&args);
        self.needs_build = false;
        self.assert_converged();
        self.ifnames.extend(residue::network_ifnames(&self.env));
        self.tally.converged += 1;
    }

    fn assert_converged(&mut self) {
        let p = self.env.project.clone();
        let ctx = || self.log.join("\n");
        let ps = self.env.ps_json(&["-a"]);
        let mut names: Vec<String> = ps
            .iter()
            .map(|c| c["Name"].as_str().unwrap_or("").to_string())
            .collect();
        names.sort();
        let mut want: Vec<String> = (1..=self.replicas)
            .map(|n| format!("{p}-worker-{n}"))
            .chain([format!("{p}-db-1"), format!("{p}-web-1")])
            .collect();
        want.sort();
        assert_eq!(names, want, "containers after the kills:\n{}", ctx());
        for c in &ps {
            assert_eq!(c["State"], "running", "{c:#?}\n{}", ctx());
        }
        let db = ps.iter().find(|c| c["Service"] == "db").expect("db");
        assert_eq!(db["Health"], "healthy", "{db:#?}\n{}", ctx());

        // The published port serves.
        let port_out = self.env.ok(&["port", "web", "8080"]);
        let port: u16 = port_out
            .trim()
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("port output {port_out:?}"));
        let body = probe::http_get(port, "/").unwrap_or_default();
        assert!(
            body.contains("lab/busybox:1"),
            "port {port}: {body:?}\n{}",
            ctx()
        );

        // Every replica runs the latest build of the worker.
        for n in 1..=self.replicas {
            let built = self.env.ok(&[
                "exec",
                "-T",
                "--index",
                &n.to_string(),
                "worker",
                "cat",
                "/built",
            ]);
            assert_eq!(
                built.trim(),
                format!("v{}", self.version),
                "worker {n}\n{}",
                ctx()
            );
        }

        // DNS answers with exactly the live replicas: no stale record from a killed command.
        let look =
            |name: &str| probe::addresses(&self.env.ok(&["exec", "-T", "web", "nslookup", name]));
        assert_eq!(look("db").len(), 1, "db\n{}", ctx());
        let workers = look("worker");
        assert_eq!(
            workers.len(),
            self.replicas as usize,
            "worker addresses {workers:?}\n{}",
            ctx()
        );
    }

    /// `down -v` from wherever the kill left the project leaves nothing on the host.
    fn down_clean(&mut self) {
        self.run_ok(&["down", "-v", "-t", "0"].map(String::from));
        self.up = false;
        let left = residue::project_residue(&self.env, &self.ifnames);
        assert!(
            left.is_empty(),
            "left after down -v:\n{}\nsession:\n{}",
            left.join("\n"),
            self.log.join("\n")
        );
        self.tally.clean_downs += 1;
    }
}

#[test]
fn sigkill_of_rcompose_at_random_moments_converges_and_leaves_nothing() {
    require_root!();
    let trials = env_u64("RCOMPOSE_CRASH_TRIALS").map_or(DEFAULT_TRIALS, |n| n as u32);
    let mut c = Crasher::new("crash", seeded("rcompose kills"));
    c.calibrate();
    for _ in 0..trials {
        c.trial();
    }
    c.down_clean();
    eprintln!(
        "rcompose kills: {:?}; op durations {:?}",
        c.tally, c.durations
    );
    assert!(
        c.tally.mid_run.iter().sum::<u32>() >= trials / 2,
        "most kills should land while rcompose runs: {:?}",
        c.tally
    );
}

/// The monitor pid of container `name` from its state file.
fn monitor_pid(env: &ComposeEnv, name: &str) -> Option<i32> {
    let dir = env.state_root().join("containers");
    std::fs::read_dir(dir).ok()?.flatten().find_map(|e| {
        let st: serde_json::Value =
            serde_json::from_slice(&std::fs::read(e.path().join("state.json")).ok()?).ok()?;
        (st["name"] == name)
            .then(|| st["monitor"]["pid"].as_i64())
            .flatten()
            .map(|p| p as i32)
    })
}

fn sigkill(pid: i32) {
    // SAFETY: kill(2) with a pid read from our own state files.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    // The monitor is not our child: wait for it to be gone.
    while rcompose::runtime::container::state::proc_start_time(pid).is_some() {
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn sigkill_of_a_monitor_leaves_a_listed_stoppable_removable_container() {
    require_root!();
    let trials = env_u64("RCOMPOSE_CRASH_TRIALS").map_or(DEFAULT_MONITOR_TRIALS, |n| n as u32 / 4);
    let mut c = Crasher::new("monkill", seeded("monitor kills"));
    c.up = true;
    c.converge();
    let p = c.env.project.clone();
    for trial in 0..trials {
        let service = ["db", "web", "worker"][c.rng.random_range(0..3)];
        let name = format!("{p}-{service}-1");
        if trial % 2 == 0 {
            // A steady container loses its monitor.
            let pid = monitor_pid(&c.env, &name).expect("monitor pid");
            sigkill(pid);
            c.log.push(format!("killed the monitor of {name}"));
        } else {
            // A monitor dies while `up --force-recreate` replaces containers.
            let mut up = c
                .env
                .command(&["up", "-d", "--force-recreate"])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .expect("spawn up");
            let delay = c.rng.random_range(0..=c.durations[0].as_millis() as u64);
            std::thread::sleep(Duration::from_millis(delay));
            if let Some(pid) = monitor_pid(&c.env, &name) {
                sigkill(pid);
            }
            let status = up.wait().expect("wait up");
            c.log.push(format!(
                "killed the monitor of {name} {delay} ms into up --force-recreate ({status})"
            ));
        }
        // Still listed, and it can be stopped and removed.
        let ps = c.env.ps_json(&["-a", service]);
        assert!(
            ps.iter().any(|x| x["Name"] == name.as_str()),
            "{name} still listed: {ps:#?}"
        );
        c.env.ok(&["stop", "-t", "0", service]);
        c.env.ok(&["rm", "-f", service]);
        assert!(c.env.ps_json(&["-a", service]).is_empty());
        c.converge();
    }
    c.down_clean();
    eprintln!("monitor kills: {trials}; {:?}", c.tally);
}
