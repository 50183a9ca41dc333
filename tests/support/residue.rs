//! What a [`ComposeEnv`] may have left on the host: mounts under its roots, network namespaces,
//! cgroups under its cgroup parent, `__monitor`/`__netd` processes of its roots, network
//! interfaces it was seen to use, its nftables tables, and state files (containers, volumes,
//! network allocations, image holds, temp files). The reliability tests call
//! [`project_residue`] after `down -v` and expect an empty list.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use super::compose::ComposeEnv;

/// Interface names (bridges and host-side veths) the env's network state lists right now.
pub fn network_ifnames(env: &ComposeEnv) -> BTreeSet<String> {
    let path = env.state_root().join("network/state.json");
    let Ok(data) = fs::read(&path) else {
        return BTreeSet::new();
    };
    let Ok(st) = serde_json::from_slice::<serde_json::Value>(&data) else {
        return BTreeSet::new();
    };
    let mut out = BTreeSet::new();
    for n in st["networks"]
        .as_object()
        .into_iter()
        .flat_map(|m| m.values())
    {
        if let Some(b) = n["ifname"].as_str() {
            out.insert(b.to_string());
        }
        for ep in n["endpoints"]
            .as_object()
            .into_iter()
            .flat_map(|m| m.values())
        {
            if let Some(v) = ep["host_ifname"].as_str() {
                out.insert(v.to_string());
            }
        }
    }
    out
}

/// The bridge names the env's networks `keys` (`<project>_<key>`) get, whether or not they exist.
pub fn bridge_names(env: &ComposeEnv, keys: &[&str]) -> BTreeSet<String> {
    let Ok(m) =
        rcompose::runtime::network::NetworkManager::open(&env.state_root(), &env.run_root())
    else {
        return BTreeSet::new();
    };
    keys.iter()
        .map(|k| m.bridge_name(&format!("{}_{k}", env.project)))
        .collect()
}

/// Everything of `env` still on the host, one line each; `ifnames` are interfaces seen in use
/// earlier (see [`network_ifnames`]) that must be gone now.
pub fn project_residue(env: &ComposeEnv, ifnames: &BTreeSet<String>) -> Vec<String> {
    let mut out = Vec::new();
    out.extend(
        env.leftover_mounts()
            .into_iter()
            .map(|m| format!("mount {m}")),
    );
    out.extend(entries(&env.run_root().join("netns")).map(|p| format!("netns {}", p.display())));
    out.extend(cgroup_children(env.cgroup_parent()).map(|p| format!("cgroup {}", p.display())));
    out.extend(processes_of(env.roots()).map(|(pid, cmd)| format!("process {pid}: {cmd}")));
    out.extend(
        ifnames
            .iter()
            .filter(|i| Path::new("/sys/class/net").join(i).exists())
            .map(|i| format!("link {i}")),
    );
    out.extend(
        nft_tables(env)
            .into_iter()
            .map(|t| format!("nft table {t}")),
    );
    out.extend(state_residue(env));
    out
}

/// State files a project leaves after `down -v`: containers (also half-created or half-removed
/// ones), container names, volumes, network allocations, image holds, temp files, the project's
/// files.
fn state_residue(env: &ComposeEnv) -> Vec<String> {
    let root = env.state_root();
    let mut out: Vec<String> = ["containers", "names", "volumes", "image/holds", "image/tmp"]
        .iter()
        .flat_map(|d| entries(&root.join(d)))
        .map(|p| format!("state {}", p.display()))
        .collect();
    let net = root.join("network/state.json");
    if net.exists() {
        out.push(format!(
            "state {}: {}",
            net.display(),
            fs::read_to_string(&net).unwrap_or_default()
        ));
    }
    let files = root.join("projects").join(&env.project);
    if files.exists() {
        out.push(format!("state {}", files.display()));
    }
    if env.run_root().join("network/netd.pid").exists() {
        out.push("netd pid file".into());
    }
    out
}

fn entries(dir: &Path) -> impl Iterator<Item = PathBuf> + use<> {
    fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
}

/// Child cgroups of `parent` in every hierarchy (v1 controllers and the unified one).
pub fn cgroup_children(parent: &str) -> impl Iterator<Item = PathBuf> {
    let parent = parent.to_string();
    entries(Path::new("/sys/fs/cgroup"))
        .map(move |base| base.join(&parent))
        .flat_map(|p| entries(&p).filter(|c| c.is_dir()).collect::<Vec<_>>())
}

/// `rcompose __monitor` / `__netd` processes with an argument under `roots`.
pub fn processes_of(roots: &Path) -> impl Iterator<Item = (i32, String)> {
    let roots = roots.to_string_lossy().into_owned();
    entries(Path::new("/proc")).filter_map(move |p| {
        let pid: i32 = p.file_name()?.to_str()?.parse().ok()?;
        let raw = fs::read(p.join("cmdline")).ok()?;
        let args: Vec<String> = raw
            .split(|b| *b == 0)
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        let ours = args.iter().any(|a| a == "__monitor" || a == "__netd")
            && args.iter().any(|a| a.starts_with(&roots));
        ours.then(|| (pid, args.join(" ")))
    })
}

/// The env's nftables tables (named after a hash of its state root) that still exist.
fn nft_tables(env: &ComposeEnv) -> Vec<String> {
    let tag = match rcompose::runtime::network::NetworkManager::open(
        &env.state_root(),
        &env.run_root(),
    ) {
        Ok(m) => m.firewall_tag(),
        Err(e) => return vec![format!("cannot open the network state: {e}")],
    };
    let (nat, filter) = rcompose::runtime::network::firewall::table_names(&tag);
    let out = std::process::Command::new("nft")
        .args(["list", "tables"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    out.lines()
        .filter_map(|l| l.split_whitespace().last())
        .filter(|t| *t == nat || *t == filter)
        .map(str::to_string)
        .collect()
}
