use super::*;
use crate::runtime::container::oci::DEFAULT_CAPS;

const AMD64_6_18: Host = Host {
    arch: "amd64",
    kernel: KernelVersion {
        kernel: 6,
        major: 18,
    },
};

fn caps(extra: &[&str]) -> Vec<String> {
    DEFAULT_CAPS
        .iter()
        .chain(extra)
        .map(|c| c.to_string())
        .collect()
}

fn default_for(bounding: &[String], host: &Host) -> LinuxSeccomp {
    SeccompProfile::Default
        .to_oci(false, bounding, host)
        .expect("translate")
        .expect("a filter")
}

/// The rules naming `syscall`, as (action, errno, args).
fn rules_for(s: &LinuxSeccomp, syscall: &str) -> Vec<LinuxSyscall> {
    s.syscalls()
        .iter()
        .flatten()
        .filter(|r| r.names().iter().any(|n| n == syscall))
        .cloned()
        .collect()
}

#[test]
fn default_profile_for_docker_default_caps() {
    let s = default_for(&caps(&[]), &AMD64_6_18);
    assert_eq!(s.default_action(), LinuxSeccompAction::ScmpActErrno);
    assert_eq!(s.default_errno_ret(), Some(1));
    assert_eq!(
        s.architectures().as_deref(),
        Some(&[Arch::ScmpArchX86_64, Arch::ScmpArchX86, Arch::ScmpArchX32][..])
    );
    // Namespaces and mounts need CAP_SYS_ADMIN: not in the allow list.
    for blocked in ["unshare", "mount", "setns", "bpf", "reboot", "init_module"] {
        assert!(rules_for(&s, blocked).is_empty(), "{blocked} allowed");
    }
    // clone without namespace flags; clone3 answers ENOSYS so libcs fall back to clone.
    let clone = rules_for(&s, "clone");
    assert_eq!(clone.len(), 1);
    let arg = clone[0].args().as_ref().expect("clone args")[0];
    assert_eq!(arg.index(), 0);
    let clone3 = rules_for(&s, "clone3");
    assert_eq!(clone3[0].action(), LinuxSeccompAction::ScmpActErrno);
    assert_eq!(clone3[0].errno_ret(), Some(38));
    // minKernel 4.8 on 6.18.
    assert!(!rules_for(&s, "ptrace").is_empty());
    // amd64-only rule in, s390 and arm ones out.
    assert!(!rules_for(&s, "arch_prctl").is_empty());
    assert!(rules_for(&s, "s390_pci_mmio_read").is_empty());
    assert!(rules_for(&s, "arm_fadvise64_64").is_empty());
}

#[test]
fn capabilities_open_their_syscalls() {
    let s = default_for(&caps(&["CAP_SYS_ADMIN", "CAP_SYS_PTRACE"]), &AMD64_6_18);
    for allowed in ["unshare", "mount", "setns", "process_vm_readv", "kcmp"] {
        assert!(
            rules_for(&s, allowed)
                .iter()
                .any(|r| r.action() == LinuxSeccompAction::ScmpActAllow),
            "{allowed} not allowed"
        );
    }
    // With CAP_SYS_ADMIN clone and clone3 are unconditional.
    let clone = rules_for(&s, "clone");
    assert!(clone.iter().all(|r| r.args().is_none()), "{clone:?}");
    assert!(
        rules_for(&s, "clone3")
            .iter()
            .all(|r| r.action() == LinuxSeccompAction::ScmpActAllow)
    );
    // Dropping a default capability closes its rule: CAP_SYS_CHROOT opens chroot.
    let no_chroot: Vec<String> = caps(&[])
        .into_iter()
        .filter(|c| c != "CAP_SYS_CHROOT")
        .collect();
    assert!(rules_for(&default_for(&no_chroot, &AMD64_6_18), "chroot").is_empty());
    assert!(!rules_for(&default_for(&caps(&[]), &AMD64_6_18), "chroot").is_empty());
}

#[test]
fn arch_and_kernel_conditions() {
    let old = Host {
        arch: "amd64",
        kernel: KernelVersion {
            kernel: 4,
            major: 7,
        },
    };
    assert!(rules_for(&default_for(&caps(&[]), &old), "ptrace").is_empty());
    let s390x = Host {
        arch: "s390x",
        kernel: AMD64_6_18.kernel,
    };
    let s = default_for(&caps(&[]), &s390x);
    assert_eq!(
        s.architectures().as_deref(),
        Some(&[Arch::ScmpArchS390x, Arch::ScmpArchS390][..])
    );
    let clone = rules_for(&s, "clone");
    assert_eq!(clone.len(), 1);
    // s390's clone takes the flags as its second argument.
    assert_eq!(clone[0].args().as_ref().expect("args")[0].index(), 1);
    assert!(!rules_for(&s, "s390_pci_mmio_read").is_empty());
    assert!(rules_for(&s, "arch_prctl").is_empty());
}

#[test]
fn privileged_and_unconfined_have_no_filter() {
    let c = caps(&[]);
    assert!(
        SeccompProfile::Unconfined
            .to_oci(false, &c, &AMD64_6_18)
            .expect("ok")
            .is_none()
    );
    let custom = SeccompProfile::Json(r#"{"defaultAction":"SCMP_ACT_KILL"}"#.into());
    assert!(custom.to_oci(true, &c, &AMD64_6_18).expect("ok").is_none());
    // An empty profile (no default action, no rules) disables filtering, as in moby.
    let empty = SeccompProfile::Json("{}".into());
    assert!(empty.to_oci(false, &c, &AMD64_6_18).expect("ok").is_none());
}

#[test]
fn masked_comparisons_reach_libcontainer_swapped() {
    let p = Profile::parse(
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
            {"name":"clone","action":"SCMP_ACT_ERRNO",
             "args":[{"index":0,"value":268435456,"valueTwo":268435456,"op":"SCMP_CMP_MASKED_EQ"}]},
            {"names":["personality"],"action":"SCMP_ACT_ERRNO",
             "args":[{"index":0,"value":8,"op":"SCMP_CMP_EQ"}]},
            {"names":["unshare"],"action":"SCMP_ACT_ERRNO",
             "args":[{"index":0,"value":7,"op":"SCMP_CMP_MASKED_EQ"}]}]}"#,
        "test",
    )
    .expect("parse");
    let s = p
        .to_oci(&caps(&[]), &AMD64_6_18)
        .expect("ok")
        .expect("filter");
    let args = |name: &str| rules_for(&s, name)[0].args().clone().expect("args")[0];
    let clone = args("clone");
    assert_eq!(
        (clone.value(), clone.value_two()),
        (268435456, Some(268435456))
    );
    let unshare = args("unshare");
    assert_eq!((unshare.value(), unshare.value_two()), (0, Some(7)));
    let personality = args("personality");
    assert_eq!((personality.value(), personality.value_two()), (8, None));
}

#[test]
fn bad_profiles_name_the_place() {
    let err = |text: &str| Profile::parse(text, "p.json").unwrap_err().to_string();
    let e = err(
        "{\n  \"defaultAction\": \"SCMP_ACT_ALLOW\",\n  \"syscalls\": [\n    {\"names\": [\"x\"], \"action\": \"SCMP_ACT_MAYBE\"}\n  ]\n}",
    );
    assert!(
        e.starts_with("seccomp profile p.json: line 4, column"),
        "{e}"
    );
    assert!(e.contains("SCMP_ACT_MAYBE"), "{e}");
    let e = err(
        "{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"architectures\": [\"SCMP_ARCH_X86\"], \"archMap\": [{\"architecture\": \"SCMP_ARCH_X86\"}]}",
    );
    assert!(e.contains("both 'architectures' and 'archMap'"), "{e}");
    let e = err(
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"name":"a","names":["b"],"action":"SCMP_ACT_ERRNO"}]}"#,
    );
    assert!(e.contains("syscalls[0]: both 'name' and 'names'"), "{e}");
    let e = err(r#"{"syscalls":[{"names":["b"],"action":"SCMP_ACT_ERRNO"}]}"#);
    assert!(e.contains("'defaultAction' is missing"), "{e}");
    let e = err(
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["b"],"action":"SCMP_ACT_ERRNO","includes":{"minKernel":"4"}}]}"#,
    );
    assert!(e.contains("invalid kernel version \"4\""), "{e}");
    let e = err(
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["b"],"action":"SCMP_ACT_ERRNO","args":[{"index":6,"value":1,"op":"SCMP_CMP_EQ"}]}]}"#,
    );
    assert!(e.contains("argument index 6"), "{e}");
    let missing = SeccompProfile::File("/nonexistent/rcompose/profile.json".into())
        .resolve()
        .unwrap_err()
        .to_string();
    assert!(
        missing.starts_with("seccomp profile /nonexistent/rcompose/profile.json: "),
        "{missing}"
    );
}

#[test]
fn a_file_profile_is_read_once_at_resolve() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("p.json");
    std::fs::write(&path, r#"{"defaultAction":"SCMP_ACT_LOG"}"#).expect("write");
    let resolved = SeccompProfile::File(path.clone())
        .resolve()
        .expect("resolve");
    std::fs::remove_file(&path).expect("rm");
    let s = resolved
        .to_oci(false, &caps(&[]), &AMD64_6_18)
        .expect("ok")
        .expect("filter");
    assert_eq!(s.default_action(), LinuxSeccompAction::ScmpActLog);
}

#[test]
fn kernel_versions() {
    let v = |s| KernelVersion::parse(s);
    assert_eq!(
        v("6.18.44-fc-v595"),
        Some(KernelVersion {
            kernel: 6,
            major: 18
        })
    );
    assert_eq!(
        v("3.12-1-amd64"),
        Some(KernelVersion {
            kernel: 3,
            major: 12
        })
    );
    assert_eq!(v("garbage"), None);
    assert!(v("4.8").expect("v") < v("4.10").expect("v"));
    assert!(Host::current().is_ok());
}

/// Runs `check` in a forked child under `filter` (loaded by libcontainer, as in a container)
/// and returns the child's exit code.
fn under_filter(filter: &LinuxSeccomp, check: fn() -> i32) -> i32 {
    // SAFETY: the child only makes syscalls, loads the filter and exits with `_exit`.
    match unsafe { libc::fork() } {
        0 => {
            // SAFETY: plain prctl; no_new_privs lets an unprivileged process load a filter.
            unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) };
            let code = match libcontainer::seccomp::initialize_seccomp(filter) {
                Ok(_) => check(),
                Err(_) => 100,
            };
            // SAFETY: leaving the forked child without running the test harness's destructors.
            unsafe { libc::_exit(code) }
        }
        pid if pid > 0 => {
            let mut status = 0;
            // SAFETY: waiting for our own child.
            unsafe { libc::waitpid(pid, &mut status, 0) };
            assert!(libc::WIFEXITED(status), "child status {status:#x}");
            libc::WEXITSTATUS(status)
        }
        _ => panic!("fork: {}", std::io::Error::last_os_error()),
    }
}

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// 0 when fork works, new namespaces are refused with EPERM and clone3 answers ENOSYS.
fn default_profile_checks() -> i32 {
    // SAFETY (whole function): raw syscalls in a single-threaded child; any process they create
    // exits at once with `_exit`.
    unsafe {
        let pid = libc::fork();
        if pid == 0 {
            libc::_exit(0);
        }
        if pid < 0 {
            return 1;
        }
        libc::waitpid(pid, std::ptr::null_mut(), 0);
        if libc::unshare(libc::CLONE_NEWUSER) == 0 || errno() != libc::EPERM {
            return 2;
        }
        let flags = (libc::CLONE_NEWUSER | libc::SIGCHLD) as libc::c_long;
        let pid = libc::syscall(libc::SYS_clone, flags, 0, 0, 0, 0);
        if pid == 0 {
            libc::_exit(0);
        }
        if pid > 0 || errno() != libc::EPERM {
            return 3;
        }
        if libc::syscall(libc::SYS_clone3, 0, 0) != -1 || errno() != libc::ENOSYS {
            return 4;
        }
    }
    0
}

#[test]
fn the_default_filter_blocks_namespaces_but_not_fork() {
    let filter = default_for(&caps(&[]), &Host::current().expect("host"));
    assert_eq!(under_filter(&filter, default_profile_checks), 0);
}

/// 0 when a user namespace can be made.
fn unshare_user() -> i32 {
    // SAFETY: plain syscall.
    (unsafe { libc::unshare(libc::CLONE_NEWUSER) } != 0) as i32
}

#[test]
fn cap_sys_admin_opens_unshare() {
    let filter = default_for(&caps(&["CAP_SYS_ADMIN"]), &Host::current().expect("host"));
    assert_eq!(under_filter(&filter, unshare_user), 0);
}
