//! The seccomp filter of a container: docker's default profile, or a profile in docker's JSON
//! format, turned into the OCI `linux.seccomp` section for one container.
//!
//! Docker's profile format extends the OCI one with conditions: a rule may apply only on some
//! architectures (`includes`/`excludes.arches`), with some capabilities (`caps`) or from a kernel
//! version on (`minKernel`), and `archMap` lists the sub-architectures of each native one. Like
//! moby's `seccomp.setupSeccomp` (github.com/moby/profiles, `seccomp/seccomp_linux.go`), the
//! conditions are resolved per container against its final bounding set, the host architecture
//! and the running kernel, so `cap_add: [SYS_ADMIN]` also opens `mount`, `unshare`, `clone3`...
//!
//! The default profile is moby's `seccomp/default.json`, kept verbatim beside this file (its
//! source commit and licence are in `seccomp/SOURCE.md`). libcontainer (`libseccomp` feature)
//! compiles and loads the resulting section in the container's init process.

use std::path::PathBuf;

use oci_spec::runtime::{
    Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArg, LinuxSeccompArgBuilder,
    LinuxSeccompFilterFlag, LinuxSeccompOperator, LinuxSyscall,
};
use serde::{Deserialize, Deserializer, Serialize};

/// moby's default profile (github.com/moby/profiles `seccomp/default.json`).
pub const DEFAULT_PROFILE: &str = include_str!("seccomp/default.json");

/// Which filter a container's processes run under (`security_opt: seccomp=...`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "mode", content = "profile", rename_all = "snake_case")]
pub enum SeccompProfile {
    /// docker's default profile (also `seccomp=builtin`).
    #[default]
    Default,
    /// No filter (`seccomp=unconfined`).
    Unconfined,
    /// A profile file in docker's format. `create` reads it and stores [`SeccompProfile::Json`],
    /// so the container keeps the profile it was created with, as docker does.
    File(PathBuf),
    /// A profile in docker's format.
    Json(String),
}

/// A bad profile, named by where it came from.
#[derive(Debug, thiserror::Error)]
pub enum SeccompError {
    #[error("seccomp profile {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("seccomp profile {origin}: line {line}, column {column}: {message}")]
    Syntax {
        origin: String,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("seccomp profile {origin}: {message}")]
    Invalid { origin: String, message: String },
}

type Result<T, E = SeccompError> = std::result::Result<T, E>;

impl SeccompProfile {
    /// Reads a [`SeccompProfile::File`] into [`SeccompProfile::Json`] and checks the profile;
    /// the other variants are returned as they are.
    pub fn resolve(&self) -> Result<SeccompProfile> {
        match self {
            SeccompProfile::File(path) => {
                let text = read_file(path)?;
                Profile::parse(&text, &path.display().to_string())?;
                Ok(SeccompProfile::Json(text))
            }
            SeccompProfile::Json(text) => {
                Profile::parse(text, "(inline)")?;
                Ok(self.clone())
            }
            SeccompProfile::Default | SeccompProfile::Unconfined => Ok(self.clone()),
        }
    }

    /// The OCI section for a container with this bounding set on this host; `None`: no filter.
    /// `privileged` containers run unfiltered whatever the profile, as in dockerd.
    pub fn to_oci(
        &self,
        privileged: bool,
        bounding: &[String],
        host: &Host,
    ) -> Result<Option<LinuxSeccomp>> {
        if privileged {
            return Ok(None);
        }
        let profile = match self {
            SeccompProfile::Unconfined => return Ok(None),
            SeccompProfile::Default => Profile::parse(DEFAULT_PROFILE, "(default)")?,
            SeccompProfile::Json(text) => Profile::parse(text, "(inline)")?,
            SeccompProfile::File(path) => {
                Profile::parse(&read_file(path)?, &path.display().to_string())?
            }
        };
        profile.to_oci(bounding, host)
    }
}

fn read_file(path: &std::path::Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|source| SeccompError::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// What a profile's conditions are checked against besides the capabilities.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Host {
    /// libseccomp's name of the native architecture (`amd64`, `arm64`, ...), as the profile's
    /// `arches` conditions spell it.
    pub arch: &'static str,
    pub kernel: KernelVersion,
}

impl Host {
    /// This machine: the architecture rcompose was built for and the running kernel.
    pub fn current() -> Result<Host, SeccompError> {
        let uts = nix::sys::utsname::uname().map_err(|e| SeccompError::Invalid {
            origin: "(host)".into(),
            message: format!("uname: {e}"),
        })?;
        let release = uts.release().to_string_lossy();
        let kernel = KernelVersion::parse(&release).ok_or_else(|| SeccompError::Invalid {
            origin: "(host)".into(),
            message: format!("cannot read the kernel version from {release:?}"),
        })?;
        Ok(Host {
            arch: native_arch(),
            kernel,
        })
    }
}

/// libseccomp's name of the architecture rcompose was built for (moby's `goToNative`).
fn native_arch() -> &'static str {
    let little = cfg!(target_endian = "little");
    match std::env::consts::ARCH {
        "x86" => "x86",
        "x86_64" => "amd64",
        "arm" => "arm",
        "aarch64" => "arm64",
        "loongarch64" => "loongarch64",
        "mips" if little => "mipsel",
        "mips64" if little => "mipsel64",
        "mips64" => "mips64",
        "powerpc" => "ppc",
        "powerpc64" if little => "ppc64le",
        "powerpc64" => "ppc64",
        "riscv64" => "riscv64",
        "s390x" => "s390x",
        other => other,
    }
}

/// The `archMap` entry of a native architecture (moby's `nativeToSeccomp`).
fn seccomp_arch(native: &str) -> Option<Arch> {
    Some(match native {
        "x86" => Arch::ScmpArchX86,
        "amd64" => Arch::ScmpArchX86_64,
        "arm" => Arch::ScmpArchArm,
        "arm64" => Arch::ScmpArchAarch64,
        "loongarch64" => Arch::ScmpArchLoongarch64,
        "mips64" => Arch::ScmpArchMips64,
        "mipsel" => Arch::ScmpArchMipsel,
        "mipsel64" => Arch::ScmpArchMipsel64,
        "ppc" => Arch::ScmpArchPpc,
        "ppc64" => Arch::ScmpArchPpc64,
        "ppc64le" => Arch::ScmpArchPpc64le,
        "riscv64" => Arch::ScmpArchRiscv64,
        "s390" => Arch::ScmpArchS390,
        "s390x" => Arch::ScmpArchS390x,
        _ => return None,
    })
}

/// A kernel version as the profile's `minKernel` compares it: `<kernel>.<major>`, the rest of a
/// release (`.44-fc-v595`, `-rc5`) ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct KernelVersion {
    pub kernel: u64,
    pub major: u64,
}

impl KernelVersion {
    /// The leading `<kernel>.<major>` of a release string (`6.18.44-fc` → 6.18).
    pub fn parse(release: &str) -> Option<KernelVersion> {
        let mut parts = release.splitn(2, '.');
        let kernel = leading_number(parts.next()?)?;
        let major = leading_number(parts.next()?)?;
        Some(KernelVersion { kernel, major })
    }
}

fn leading_number(s: &str) -> Option<u64> {
    let end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    s[..end].parse().ok()
}

impl<'de> Deserialize<'de> for KernelVersion {
    /// Exactly `"<kernel>.<major>"` with numbers up to 255 and not `0.0`, like moby.
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        use serde::de::Error;
        let s = String::deserialize(d)?;
        let bad = || {
            D::Error::custom(format!(
                "invalid kernel version {s:?}, expected \"<kernel>.<major>\""
            ))
        };
        let (k, m) = s.split_once('.').ok_or_else(bad)?;
        let k: u8 = k.parse().map_err(|_| bad())?;
        let m: u8 = m.parse().map_err(|_| bad())?;
        if k == 0 && m == 0 {
            return Err(bad());
        }
        Ok(KernelVersion {
            kernel: k.into(),
            major: m.into(),
        })
    }
}

/// A `null` or missing list is an empty one (Go's JSON decoding of slices).
fn list<'de, D, T>(d: D) -> std::result::Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

/// A profile in docker's format (moby's `seccomp.Seccomp`). Unknown fields are ignored, as
/// docker's decoder does.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Profile {
    #[serde(default)]
    default_action: Option<LinuxSeccompAction>,
    #[serde(default)]
    default_errno_ret: Option<u32>,
    #[serde(default, deserialize_with = "list")]
    architectures: Vec<Arch>,
    #[serde(default, deserialize_with = "list")]
    arch_map: Vec<ArchMap>,
    #[serde(default, deserialize_with = "list")]
    flags: Vec<LinuxSeccompFilterFlag>,
    #[serde(default)]
    listener_path: Option<PathBuf>,
    #[serde(default)]
    listener_metadata: Option<String>,
    #[serde(default, deserialize_with = "list")]
    syscalls: Vec<Rule>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ArchMap {
    architecture: Arch,
    #[serde(default, deserialize_with = "list")]
    sub_architectures: Vec<Arch>,
}

/// One rule: OCI's `LinuxSyscall` plus the old `name` and the conditions.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Rule {
    #[serde(default, deserialize_with = "list")]
    names: Vec<String>,
    #[serde(default)]
    name: Option<String>,
    action: LinuxSeccompAction,
    #[serde(default)]
    errno_ret: Option<u32>,
    #[serde(default, deserialize_with = "list")]
    args: Vec<LinuxSeccompArg>,
    #[serde(default)]
    includes: Option<Filter>,
    #[serde(default)]
    excludes: Option<Filter>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Filter {
    #[serde(default, deserialize_with = "list")]
    caps: Vec<String>,
    #[serde(default, deserialize_with = "list")]
    arches: Vec<String>,
    #[serde(default)]
    min_kernel: Option<KernelVersion>,
}

impl Rule {
    /// moby's include/exclude logic: excluded when any exclusion matches, included when every
    /// inclusion does.
    fn applies(&self, bounding: &[String], host: &Host) -> bool {
        let has = |c: &String| bounding.contains(c);
        if let Some(ex) = &self.excludes {
            let arch = ex.arches.iter().any(|a| a == host.arch);
            let cap = ex.caps.iter().any(has);
            let kernel = ex.min_kernel.is_some_and(|k| host.kernel >= k);
            if arch || cap || kernel {
                return false;
            }
        }
        if let Some(inc) = &self.includes {
            let arch = inc.arches.is_empty() || inc.arches.iter().any(|a| a == host.arch);
            let caps = inc.caps.iter().all(has);
            let kernel = inc.min_kernel.is_none_or(|k| host.kernel >= k);
            if !(arch && caps && kernel) {
                return false;
            }
        }
        true
    }

    fn to_oci(&self) -> Result<LinuxSyscall> {
        let mut out = LinuxSyscall::default();
        out.set_names(match &self.name {
            Some(n) => vec![n.clone()],
            None => self.names.clone(),
        });
        out.set_action(self.action);
        out.set_errno_ret(self.errno_ret);
        if !self.args.is_empty() {
            let args = self
                .args
                .iter()
                .map(libcontainer_arg)
                .collect::<Result<_>>()?;
            out.set_args(Some(args));
        }
        Ok(out)
    }
}

/// The argument condition as libcontainer 0.7 has to receive it to mean what OCI means.
///
/// OCI (and runc, through libseccomp's `SCMP_CMP(arg, SCMP_CMP_MASKED_EQ, mask, datum)`) reads
/// a masked comparison as `(arg & value) == valueTwo`; libcontainer 0.7's `translate_op` hands
/// libseccomp `valueTwo` as the mask and `value` as the datum. Unswapped, docker's rule "clone
/// without namespace flags" (`value: 0x7E020000, MASKED_EQ`) becomes `(arg & 0) == 0` (libseccomp
/// masks the datum too) and lets `clone(CLONE_NEWUSER|...)` through. The tests load the filter
/// and make those syscalls, so a libcontainer that fixes the order fails them.
fn libcontainer_arg(arg: &LinuxSeccompArg) -> Result<LinuxSeccompArg> {
    if arg.op() != LinuxSeccompOperator::ScmpCmpMaskedEq {
        return Ok(*arg);
    }
    LinuxSeccompArgBuilder::default()
        .index(arg.index())
        .op(arg.op())
        .value(arg.value_two().unwrap_or(0))
        .value_two(arg.value())
        .build()
        .map_err(|e| SeccompError::Invalid {
            origin: "(translation)".into(),
            message: e.to_string(),
        })
}

impl Profile {
    /// Parses a profile; errors carry the line and column.
    pub fn parse(text: &str, origin: &str) -> Result<Profile> {
        let p: Profile = serde_json::from_str(text).map_err(|e| {
            // serde_json's message ends with the position, which the error shows first.
            let message = e.to_string();
            let position = format!(" at line {} column {}", e.line(), e.column());
            SeccompError::Syntax {
                origin: origin.to_string(),
                line: e.line(),
                column: e.column(),
                message: message
                    .strip_suffix(&position)
                    .unwrap_or(&message)
                    .to_string(),
            }
        })?;
        p.check(origin)?;
        Ok(p)
    }

    /// What moby rejects, and what libcontainer would only reject inside the container.
    fn check(&self, origin: &str) -> Result<()> {
        let invalid = |message: &str| {
            Err(SeccompError::Invalid {
                origin: origin.to_string(),
                message: message.to_string(),
            })
        };
        if !self.architectures.is_empty() && !self.arch_map.is_empty() {
            return invalid("both 'architectures' and 'archMap' are specified, use one of them");
        }
        if self.default_action.is_none() && !self.syscalls.is_empty() {
            return invalid("'defaultAction' is missing");
        }
        if self.default_action == Some(LinuxSeccompAction::ScmpActNotify) {
            return invalid("SCMP_ACT_NOTIFY cannot be the default action");
        }
        for (i, r) in self.syscalls.iter().enumerate() {
            if r.name.is_some() && !r.names.is_empty() {
                return invalid(&format!(
                    "syscalls[{i}]: both 'name' and 'names' are specified, use one of them"
                ));
            }
            if r.action == LinuxSeccompAction::ScmpActNotify {
                return invalid(&format!(
                    "syscalls[{i}]: SCMP_ACT_NOTIFY needs a seccomp agent, which rcompose does not run"
                ));
            }
            if let Some(a) = r.args.iter().find(|a| a.index() > 5) {
                return invalid(&format!(
                    "syscalls[{i}]: argument index {} is out of range (0 to 5)",
                    a.index()
                ));
            }
        }
        Ok(())
    }

    /// The OCI section for one container (moby's `setupSeccomp`); `None`: the profile disables
    /// filtering (no default action and no rules).
    pub fn to_oci(&self, bounding: &[String], host: &Host) -> Result<Option<LinuxSeccomp>> {
        let Some(default_action) = self.default_action else {
            return Ok(None);
        };
        let mut arches = self.architectures.clone();
        if let Some(native) = seccomp_arch(host.arch)
            && let Some(m) = self.arch_map.iter().find(|m| m.architecture == native)
        {
            arches.push(m.architecture);
            arches.extend(&m.sub_architectures);
        }
        let syscalls: Vec<LinuxSyscall> = self
            .syscalls
            .iter()
            .filter(|r| r.applies(bounding, host))
            .map(Rule::to_oci)
            .collect::<Result<_>>()?;
        let mut out = LinuxSeccomp::default();
        out.set_default_action(default_action);
        out.set_default_errno_ret(self.default_errno_ret);
        out.set_architectures((!arches.is_empty()).then_some(arches));
        out.set_flags((!self.flags.is_empty()).then(|| self.flags.clone()));
        out.set_listener_path(self.listener_path.clone());
        out.set_listener_metadata(self.listener_metadata.clone());
        out.set_syscalls((!syscalls.is_empty()).then_some(syscalls));
        Ok(Some(out))
    }
}

#[cfg(test)]
mod tests;
