//! Container configuration on real containers: volumes, read-only rootfs, users, capabilities,
//! ulimits, cgroup limits, tmpfs, binds, hostname and sysctls.

mod support;

use std::fs;
use std::time::Duration;

use rcompose::runtime::container::{
    ContainerError, MountKind, MountSpec, RemoveOptions, Runtime, Ulimit,
};
use support::runtime::TestEnv;

/// Runs `script` to completion and returns (exit code, log text).
fn run_to_end(
    env: &TestEnv,
    spec: &rcompose::runtime::container::ContainerSpec,
) -> (i32, String, String) {
    let id = env.run(spec);
    let code = env.rt.wait(&id).expect("wait");
    (code, env.log_text(&id), id)
}

fn rm(env: &TestEnv, id: &str) {
    env.rt
        .remove(
            id,
            RemoveOptions {
                force: true,
                volumes: true,
            },
        )
        .expect("remove");
    env.assert_gone(id);
}

#[test]
fn named_volume_is_populated_from_the_image_and_persists() {
    let env = TestEnv::new();
    // Image content at the mount target.
    fs::create_dir_all(env.rootfs.join("data/sub")).expect("mkdir");
    fs::write(env.rootfs.join("data/seed.txt"), "from-image\n").expect("seed");
    fs::write(env.rootfs.join("data/sub/deep"), "deep\n").expect("deep");
    let vol = MountSpec {
        target: "/data".into(),
        kind: MountKind::Volume {
            name: "vol1".into(),
            nocopy: false,
        },
        read_only: false,
    };
    let mut a = env.sh(
        "writer",
        "cat /data/seed.txt /data/sub/deep; echo persisted > /data/new.txt",
    );
    a.mounts.push(vol.clone());
    let (code, log, id) = run_to_end(&env, &a);
    assert_eq!(code, 0, "{log}");
    assert!(log.contains("from-image") && log.contains("deep"), "{log}");
    rm(&env, &id);
    assert!(
        env.rt
            .list_volumes()
            .expect("volumes")
            .contains(&"vol1".to_string())
    );

    // A new container on the same volume sees the data; the image content is not copied again.
    fs::write(env.rootfs.join("data/seed.txt"), "changed-image\n").expect("seed");
    let mut b = env.sh("reader", "cat /data/new.txt /data/seed.txt");
    b.mounts.push(vol);
    let (code, log, id) = run_to_end(&env, &b);
    assert_eq!(code, 0);
    assert!(
        log.contains("persisted") && log.contains("from-image"),
        "{log}"
    );
    rm(&env, &id);

    // nocopy: a new volume stays empty.
    let mut c = env.sh("nocopy", "ls -A /data | wc -l");
    c.mounts.push(MountSpec {
        target: "/data".into(),
        kind: MountKind::Volume {
            name: "vol2".into(),
            nocopy: true,
        },
        read_only: false,
    });
    let (_, log, id) = run_to_end(&env, &c);
    assert_eq!(log.trim(), "0");
    rm(&env, &id);
    env.rt.remove_volume("vol1").expect("remove vol1");
    env.rt.remove_volume("vol2").expect("remove vol2");
}

#[test]
fn anonymous_volume_tmpfs_and_bind_mounts() {
    let env = TestEnv::new();
    let host = env.dir.path().join("hostdir");
    fs::create_dir_all(&host).expect("mkdir");
    fs::write(host.join("h.txt"), "host-file\n").expect("write");
    let mut s = env.sh(
        "mounts",
        "cat /h/h.txt; echo w > /h/from-container; echo x > /ro/y 2>/dev/null || echo ro-denied; \
         grep ' /t ' /proc/mounts; echo a > /anon/f && echo anon-ok; test -d /created && echo created-ok",
    );
    s.mounts = vec![
        MountSpec {
            target: "/h".into(),
            kind: MountKind::Bind {
                source: host.clone(),
                create_host_path: false,
                propagation: None,
            },
            read_only: false,
        },
        MountSpec {
            target: "/ro".into(),
            kind: MountKind::Bind {
                source: host.clone(),
                create_host_path: false,
                propagation: None,
            },
            read_only: true,
        },
        MountSpec {
            target: "/created".into(),
            kind: MountKind::Bind {
                source: env.dir.path().join("new/dir"),
                create_host_path: true,
                propagation: None,
            },
            read_only: false,
        },
        MountSpec {
            target: "/t".into(),
            kind: MountKind::Tmpfs {
                size: Some(1 << 20),
                mode: Some(0o750),
            },
            read_only: false,
        },
        MountSpec {
            target: "/anon".into(),
            kind: MountKind::Anonymous { nocopy: false },
            read_only: false,
        },
    ];
    let id = env.run(&s);
    assert_eq!(env.rt.wait(&id).expect("wait"), 0);
    let log = env.log_text(&id);
    assert!(log.contains("host-file"), "{log}");
    assert!(log.contains("ro-denied"), "{log}");
    assert!(
        log.contains("size=1024k") && log.contains("mode=750"),
        "{log}"
    );
    assert!(
        log.contains("anon-ok") && log.contains("created-ok"),
        "{log}"
    );
    assert!(host.join("from-container").exists());
    let anon = env.rt.inspect(&id).expect("inspect").anonymous_volumes;
    assert_eq!(anon.len(), 1);
    rm(&env, &id);
    assert!(
        !env.rt.list_volumes().expect("volumes").contains(&anon[0]),
        "anonymous volume kept"
    );
}

#[test]
fn read_only_rootfs_hostname_and_upper_dir_kept_across_restarts() {
    let env = TestEnv::new();
    let mut s = env.sh("ro", "touch /x 2>/dev/null && echo writable || echo read-only; hostname; touch /tmp/x 2>/dev/null || echo tmp-ro");
    s.read_only = true;
    s.hostname = Some("myhost".into());
    let (code, log, id) = run_to_end(&env, &s);
    assert_eq!(code, 0);
    assert!(log.contains("read-only") && log.contains("myhost"), "{log}");
    rm(&env, &id);

    // The upper dir survives a stop/start of the same container.
    let s = env.sh("keep", "cat /state 2>/dev/null; date +%s%N > /state");
    let (_, first, id) = run_to_end(&env, &s);
    assert!(first.trim().is_empty(), "{first}");
    env.rt.start(&id).expect("restart");
    env.rt.wait(&id).expect("wait");
    let second = env.log_text(&id);
    assert!(second.trim().lines().count() == 1, "{second}");
    rm(&env, &id);
}

#[test]
fn user_switching() {
    let env = TestEnv::new();
    for (user, want) in [
        ("nobody", "65534:65534"),
        ("1234", "1234:0"),
        ("1234:65534", "1234:65534"),
        ("nobody:root", "65534:0"),
    ] {
        let mut s = env.sh("u", "echo $(id -u):$(id -g)");
        s.name = format!("user-{}", user.replace(':', "-"));
        s.user = Some(user.into());
        let (code, log, id) = run_to_end(&env, &s);
        assert_eq!(code, 0);
        assert_eq!(log.trim(), want, "user {user}");
        rm(&env, &id);
    }
    let mut s = env.sh("ghost", "true");
    s.user = Some("ghost".into());
    let id = env.rt.create(&s).expect("create");
    let err = env.rt.start(&id).expect_err("unknown user must fail");
    assert!(err.to_string().contains("ghost"), "{err}");
    rm(&env, &id);
}

fn cap_eff(log: &str) -> u64 {
    let hex = log
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .expect("CapEff")
        .trim();
    u64::from_str_radix(hex, 16).expect("hex")
}

#[test]
fn capabilities_default_drop_add_privileged() {
    let env = TestEnv::new();
    let script = "grep CapEff /proc/self/status";
    let (_, log, id) = run_to_end(&env, &env.sh("defcaps", script));
    // docker's default set: 0x00000000a80425fb
    assert_eq!(cap_eff(&log), 0xa80425fb, "{log}");
    rm(&env, &id);

    let mut s = env.sh("dropped", script);
    s.cap_drop = vec!["ALL".into()];
    s.cap_add = vec!["NET_ADMIN".into()];
    let (_, log, id) = run_to_end(&env, &s);
    assert_eq!(cap_eff(&log), 1 << 12, "{log}");
    rm(&env, &id);

    let mut s = env.sh(
        "chown-dropped",
        "chown nobody /tmp && echo chowned || echo denied",
    );
    s.cap_drop = vec!["CHOWN".into(), "DAC_OVERRIDE".into(), "FOWNER".into()];
    let (_, log, id) = run_to_end(&env, &s);
    assert!(log.contains("denied"), "{log}");
    rm(&env, &id);

    let mut s = env.sh("priv", script);
    s.privileged = true;
    let (_, log, id) = run_to_end(&env, &s);
    assert!(
        cap_eff(&log) & (1 << 21) != 0,
        "CAP_SYS_ADMIN missing: {log}"
    );
    rm(&env, &id);

    let mut bad = env.sh("badcap", "true");
    bad.cap_add = vec!["NOT_A_CAP".into()];
    assert!(matches!(
        env.rt.create(&bad),
        Err(ContainerError::InvalidSpec(_))
    ));
}

fn host_hard_nofile() -> u64 {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into our struct.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) }, 0);
    r.rlim_max
}

#[test]
fn ulimits_within_the_hard_limit_and_a_clear_error_beyond() {
    let env = TestEnv::new();
    let hard = host_hard_nofile();
    let mut s = env.sh("ulim", "ulimit -n; ulimit -Hn");
    s.ulimits = vec![Ulimit {
        name: "nofile".into(),
        soft: 512,
        hard: hard.min(4096),
    }];
    let (code, log, id) = run_to_end(&env, &s);
    assert_eq!(code, 0);
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(
        lines,
        vec!["512".to_string(), hard.min(4096).to_string()],
        "{log}"
    );
    rm(&env, &id);

    let mut over = env.sh("over", "true");
    over.ulimits = vec![Ulimit {
        name: "nofile".into(),
        soft: 1024,
        hard: hard + 1,
    }];
    let err = env.rt.create(&over).expect_err("above the hard limit");
    assert!(
        matches!(err, ContainerError::UlimitAboveHostHard { .. }),
        "{err}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains("nofile")
            && msg.contains(&hard.to_string())
            && msg.contains("CAP_SYS_RESOURCE"),
        "{msg}"
    );
}

#[test]
fn memory_pids_cpu_limits_are_in_the_cgroup() {
    let env = TestEnv::new();
    let mut s = env.sh("limits", "sleep 100");
    s.resources.memory = Some(64 * 1024 * 1024);
    s.resources.pids_limit = Some(50);
    s.resources.cpus = Some(0.5);
    s.resources.cpu_shares = Some(512);
    let id = env.run(&s);
    let cg = |ctrl: &str, file: &str| {
        fs::read_to_string(env.cgroup_file(ctrl, &id, file))
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|e| format!("error: {e}"))
    };
    assert_eq!(cg("memory", "memory.limit_in_bytes"), "67108864");
    assert_eq!(cg("pids", "pids.max"), "50");
    assert_eq!(cg("cpu", "cpu.cfs_quota_us"), "50000");
    assert_eq!(cg("cpu", "cpu.shares"), "512");
    // The pids limit bites inside the container.
    let out = env
        .rt
        .exec_output(
            &id,
            &rcompose::runtime::container::ExecSpec::new([
                "sh",
                "-c",
                "for i in $(seq 80); do sleep 5 & done 2>&1 | tail -1; echo done",
            ]),
        )
        .expect("exec");
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        text.contains("fork") || text.contains("Resource") || text.contains("can't"),
        "{text}"
    );
    env.rt
        .stop(&id, Some(Duration::from_secs(1)))
        .expect("stop");
    rm(&env, &id);
}

#[test]
fn sysctls_and_masked_paths() {
    let env = TestEnv::new();
    let mut s = env.sh(
        "sysctl",
        "cat /proc/sys/net/ipv4/ip_unprivileged_port_start; cat /proc/kcore 2>/dev/null | wc -c; (echo 1 > /proc/sys/kernel/domainname) 2>/dev/null || echo proc-sys-ro",
    );
    s.sysctls
        .insert("net.ipv4.ip_unprivileged_port_start".into(), "80".into());
    let (code, log, id) = run_to_end(&env, &s);
    assert_eq!(code, 0, "{log}");
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(lines[0], "80", "{log}");
    assert_eq!(lines[1].trim(), "0", "/proc/kcore not masked: {log}");
    assert!(log.contains("proc-sys-ro"), "{log}");
    rm(&env, &id);
}

#[test]
fn image_declared_volumes_become_anonymous_volumes() {
    let env = TestEnv::new();
    fs::create_dir_all(env.rootfs.join("var/db")).expect("mkdir");
    fs::write(env.rootfs.join("var/db/init"), "seeded\n").expect("seed");
    let mut spec = env.sh(
        "imgvol",
        "cat /var/db/init; grep -c ' /var/db ' /proc/mounts",
    );
    let mut image = spec.image.clone();
    let mut cfg = image.config().clone().expect("config");
    cfg.set_volumes(Some(vec!["/var/db".to_string()]));
    image.set_config(Some(cfg));
    spec.image = image;
    let (code, log, id) = run_to_end(&env, &spec);
    assert_eq!(code, 0, "{log}");
    assert_eq!(log, "seeded\n1\n");
    let anon = env.rt.inspect(&id).expect("inspect").anonymous_volumes;
    assert_eq!(anon.len(), 1);
    rm(&env, &id);
    assert!(env.rt.list_volumes().expect("volumes").is_empty());
}

#[test]
fn custom_stop_signal() {
    let env = TestEnv::new();
    let mut spec = env.sh(
        "usr1",
        "trap 'echo got-usr1; exit 3' USR1; while true; do sleep 0.05; done",
    );
    spec.stop_signal = Some("SIGUSR1".into());
    let id = env.run(&spec);
    std::thread::sleep(Duration::from_millis(200));
    env.rt
        .stop(&id, Some(Duration::from_secs(5)))
        .expect("stop");
    assert_eq!(env.state(&id).exit_code, Some(3));
    assert!(env.log_text(&id).contains("got-usr1"));
    rm(&env, &id);
}

#[test]
fn many_long_lower_dirs_mount_through_short_links() {
    let env = TestEnv::new();
    // 40 extra layers with ~120-byte paths: the plain option string would pass 4 KiB.
    let mut lowers = vec![env.rootfs.clone()];
    let long = "x".repeat(100);
    for i in 0..40 {
        let d = env.dir.path().join(format!("layers/{long}-{i:02}"));
        fs::create_dir_all(d.join("etc/layers")).expect("mkdir");
        fs::write(d.join("etc/layers").join(format!("l{i:02}")), "").expect("file");
        fs::write(d.join("etc/top"), format!("{i}\n")).expect("top");
        lowers.push(d);
    }
    let mut spec = env.sh("layers", "ls /etc/layers | wc -l; cat /etc/top");
    spec.lower_dirs = lowers;
    let (code, log, id) = run_to_end(&env, &spec);
    assert_eq!(code, 0, "{log}");
    assert_eq!(log, "40\n39\n", "the top (last) layer wins");
    assert!(
        env.rt
            .layout()
            .container(&id)
            .lower_links()
            .join("40")
            .is_symlink()
    );
    rm(&env, &id);
}

fn interfaces(log: &str) -> Vec<String> {
    log.lines()
        .skip(2)
        .filter_map(|l| l.split(':').next())
        .map(|s| s.trim().to_string())
        .collect()
}

#[test]
fn network_namespace_modes() {
    use rcompose::runtime::container::NetworkMode;
    let env = TestEnv::new();
    let (_, log, id) = run_to_end(&env, &env.sh("private", "cat /proc/net/dev"));
    assert_eq!(interfaces(&log), vec!["lo"], "{log}");
    rm(&env, &id);

    let mut host = env.sh("hostnet", "cat /proc/net/dev");
    host.network = NetworkMode::Host;
    let (_, log, id) = run_to_end(&env, &host);
    assert!(
        interfaces(&log).len() > 1,
        "host interfaces expected: {log}"
    );
    rm(&env, &id);

    // Join another container's namespace: a veth-less way to check both see the same netns.
    let owner = env.run(&env.sh("owner", "sleep 100"));
    let pid = env.state(&owner).pid.expect("pid");
    let mut joiner = env.sh("joiner", "readlink /proc/self/ns/net");
    joiner.network = NetworkMode::Path(format!("/proc/{pid}/ns/net").into());
    let (_, log, id) = run_to_end(&env, &joiner);
    let owner_ns = fs::read_link(format!("/proc/{pid}/ns/net")).expect("ns");
    assert_eq!(log.trim(), owner_ns.to_string_lossy(), "{log}");
    rm(&env, &id);
    rm(&env, &owner);
}

#[test]
fn the_runtime_is_usable_as_a_trait_object() {
    let env = TestEnv::new();
    let rt: Box<dyn Runtime> = Box::new(env.rt.clone());
    assert!(rt.list().expect("list").is_empty());
}

#[test]
fn shm_size_and_no_new_privileges() {
    let env = TestEnv::new();
    let mut s = env.sh(
        "shm",
        "grep ' /dev/shm ' /proc/mounts; grep NoNewPrivs /proc/self/status",
    );
    s.shm_size = Some(8 * 1024 * 1024);
    s.no_new_privileges = true;
    let (code, log, id) = run_to_end(&env, &s);
    assert_eq!(code, 0, "{log}");
    assert!(log.contains("size=8192k"), "{log}");
    assert!(log.contains("NoNewPrivs:\t1"), "{log}");
    rm(&env, &id);
    let (_, log, id) = run_to_end(
        &env,
        &env.sh("nnp-off", "grep NoNewPrivs /proc/self/status"),
    );
    assert!(log.contains("NoNewPrivs:\t0"), "{log}");
    rm(&env, &id);
}
