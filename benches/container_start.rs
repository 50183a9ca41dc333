//! Measures create + start + wait of `true` (and remove, and exec) on real containers.
//! Run as root: `cargo bench --bench container_start [-- N]`.

#[path = "../tests/support/runtime.rs"]
#[allow(dead_code)]
mod common;

use std::time::{Duration, Instant};

use common::TestEnv;
use rcompose::runtime::container::oci::DEFAULT_CAPS;
use rcompose::runtime::container::seccomp;
use rcompose::runtime::container::{ExecSpec, RemoveOptions, Runtime, SeccompProfile};

fn stats(name: &str, mut v: Vec<Duration>) {
    v.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let p = |q: f64| v[((v.len() as f64 - 1.0) * q).round() as usize];
    println!(
        "{name:<32} n={:<4} median {:>7.2} ms  p10 {:>7.2} ms  p90 {:>7.2} ms  min {:>7.2} ms",
        v.len(),
        ms(p(0.5)),
        ms(p(0.1)),
        ms(p(0.9)),
        ms(v[0])
    );
}

/// One create + start + wait + remove cycle's phases.
#[derive(Default)]
struct Cycles {
    cycle: Vec<Duration>,
    create: Vec<Duration>,
    start: Vec<Duration>,
    wait: Vec<Duration>,
    remove: Vec<Duration>,
}

impl Cycles {
    fn run(&mut self, env: &TestEnv, name: &str, seccomp: &SeccompProfile, keep: bool) {
        let mut spec = env.sh(name, "true");
        spec.command = Some(vec!["true".into()]);
        spec.seccomp = seccomp.clone();
        let t0 = Instant::now();
        let id = env.rt.create(&spec).expect("create");
        let t1 = Instant::now();
        env.rt.start(&id).expect("start");
        let t2 = Instant::now();
        assert_eq!(env.rt.wait(&id).expect("wait"), 0);
        let t3 = Instant::now();
        env.rt
            .remove(&id, RemoveOptions::default())
            .expect("remove");
        let t4 = Instant::now();
        if keep {
            self.create.push(t1 - t0);
            self.start.push(t2 - t1);
            self.wait.push(t3 - t2);
            self.cycle.push(t3 - t0);
            self.remove.push(t4 - t3);
        }
    }

    fn report(self, label: &str) {
        stats(&format!("create+start+wait (true) {label}"), self.cycle);
        stats("  create", self.create);
        stats("  start (monitor ready)", self.start);
        stats("  wait", self.wait);
        stats("remove", self.remove);
    }
}

/// CPU time libcontainer spends compiling and loading `filter` (in a forked child, as in the
/// container's init); CPU time, so that other load on the machine does not count.
fn filter_load_cpu_time(filter: &oci_spec::runtime::LinuxSeccomp) -> Duration {
    let cpu = || {
        // SAFETY: clock_gettime writes into the timespec we own.
        let mut ts: libc::timespec = unsafe { std::mem::zeroed() };
        unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
        Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
    };
    let (r, w) = nix::unistd::pipe().expect("pipe");
    // SAFETY: the child loads a filter, writes 16 bytes and leaves with _exit.
    match unsafe { libc::fork() } {
        0 => {
            // SAFETY: plain prctl.
            unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) };
            let t0 = cpu();
            let ok = libcontainer::seccomp::initialize_seccomp(filter).is_ok();
            let took = (cpu() - t0).as_nanos() as u64;
            let _ = nix::unistd::write(
                &w,
                &[took.to_le_bytes(), (ok as u64).to_le_bytes()].concat(),
            );
            // SAFETY: leaving the forked child at once.
            unsafe { libc::_exit(0) }
        }
        pid => {
            drop(w);
            let mut buf = [0u8; 16];
            let mut file = std::fs::File::from(r);
            std::io::Read::read_exact(&mut file, &mut buf).expect("child report");
            // SAFETY: reaping our child.
            unsafe { libc::waitpid(pid, std::ptr::null_mut(), 0) };
            assert_eq!(buf[8], 1, "filter did not load");
            Duration::from_nanos(u64::from_le_bytes(buf[..8].try_into().expect("8 bytes")))
        }
    }
}

fn main() {
    let n: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(30);
    let env = TestEnv::new();
    // Both filters interleaved, so machine noise hits them alike.
    let mut confined = Cycles::default();
    let mut unconfined = Cycles::default();
    for i in 0..n + 3 {
        let keep = i >= 3;
        confined.run(&env, &format!("bench-{i}"), &SeccompProfile::Default, keep);
        let name = format!("bench-u-{i}");
        unconfined.run(&env, &name, &SeccompProfile::Unconfined, keep);
    }
    confined.report("[default seccomp]");
    unconfined.report("[seccomp=unconfined]");

    // The part of the filter's cost paid in the monitor: reading the profile and resolving it
    // for one capability set (libseccomp's compilation runs in the container's init).
    let host = seccomp::Host::current().expect("host");
    let caps: Vec<String> = DEFAULT_CAPS.iter().map(|c| c.to_string()).collect();
    let mut translate = Vec::new();
    for _ in 0..n {
        let t = Instant::now();
        let filter = SeccompProfile::Default.to_oci(false, &caps, &host);
        assert!(matches!(filter, Ok(Some(_))));
        translate.push(t.elapsed());
    }
    stats("default profile -> OCI section", translate);
    let filter = SeccompProfile::Default
        .to_oci(false, &caps, &host)
        .expect("profile")
        .expect("a filter");
    let load: Vec<Duration> = (0..n).map(|_| filter_load_cpu_time(&filter)).collect();
    stats("filter compile+load (CPU time)", load);

    let id = env.run(&env.sh("bench-exec", "sleep 1000"));
    let mut exec = Vec::new();
    for i in 0..n + 3 {
        let t = Instant::now();
        let out = env
            .rt
            .exec_output(&id, &ExecSpec::new(["true"]))
            .expect("exec");
        assert_eq!(out.exit_code, 0);
        if i >= 3 {
            exec.push(t.elapsed());
        }
    }
    stats("exec true (running container)", exec);
    let mut inspect = Vec::new();
    for _ in 0..n {
        let t = Instant::now();
        env.rt.inspect(&id).expect("inspect");
        inspect.push(t.elapsed());
    }
    stats("inspect (running)", inspect);
    env.rt
        .remove(
            &id,
            RemoveOptions {
                force: true,
                volumes: true,
            },
        )
        .expect("remove");
}
