//! Measures create + start + wait of `true` (and remove, and exec) on real containers.
//! Run as root: `cargo bench --bench container_start [-- N]`.

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use common::TestEnv;
use rcompose::runtime::container::{ExecSpec, RemoveOptions, Runtime};

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

fn main() {
    let n: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(30);
    let env = TestEnv::new();
    let mut cycle = Vec::new();
    let mut create = Vec::new();
    let mut start = Vec::new();
    let mut wait = Vec::new();
    let mut remove = Vec::new();
    for i in 0..n + 3 {
        let mut spec = env.sh(&format!("bench-{i}"), "true");
        spec.command = Some(vec!["true".into()]);
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
        if i >= 3 {
            create.push(t1 - t0);
            start.push(t2 - t1);
            wait.push(t3 - t2);
            cycle.push(t3 - t0);
            remove.push(t4 - t3);
        }
    }
    stats("create+start+wait (true)", cycle);
    stats("  create", create);
    stats("  start (monitor ready)", start);
    stats("  wait", wait);
    stats("remove", remove);

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
