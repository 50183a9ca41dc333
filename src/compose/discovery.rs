//! Which files make up the project, in which directory, under which name, with which variables
//! and profiles: `-f` (or `COMPOSE_FILE`, or a search upwards from the working directory for
//! `compose.yaml` and friends plus their `.override` file), `--project-directory`, `.env` and
//! `--env-file`, `-p`/`COMPOSE_PROJECT_NAME`/`name:`/directory name, `--profile`/`COMPOSE_PROFILES`.

use std::path::{Path, PathBuf};

use super::environment::{Environment, add_missing, read_env_files};
use super::error::LoadError;
use super::loader::ConfigFile;
use super::paths::clean;

/// What the user asked for on the command line.
#[derive(Debug, Clone, Default)]
pub struct ProjectOptions {
    pub files: Vec<String>,
    pub project_name: Option<String>,
    pub project_directory: Option<PathBuf>,
    pub env_files: Vec<PathBuf>,
    pub profiles: Vec<String>,
}

/// The world outside the loader, passed in so loading stays a pure function of its inputs.
#[derive(Debug, Clone, Default)]
pub struct Host {
    pub cwd: PathBuf,
    /// The process environment.
    pub env: Environment,
    /// What `-f -` reads.
    pub stdin: Option<String>,
}

/// The resolved inputs of a load.
#[derive(Debug, Clone)]
pub struct Discovered {
    pub working_dir: PathBuf,
    pub files: Vec<ConfigFile>,
    /// Process environment plus the env files, the shell winning.
    pub environment: Environment,
    /// Set by `-p` or `COMPOSE_PROJECT_NAME`: then `name:` in the files does not count.
    pub imperative_name: Option<String>,
    pub default_name: String,
    pub profiles: Vec<String>,
}

const CANDIDATES: [&str; 4] = [
    "compose.yaml",
    "compose.yml",
    "docker-compose.yml",
    "docker-compose.yaml",
];
const OVERRIDES: [&str; 4] = [
    "compose.override.yml",
    "compose.override.yaml",
    "docker-compose.override.yml",
    "docker-compose.override.yaml",
];

pub fn discover(opts: &ProjectOptions, host: &Host) -> Result<Discovered, LoadError> {
    let mut environment = host.env.clone();
    let early_dir = early_working_dir(opts, host);
    let env_files = env_files(opts, host, &early_dir);
    let from_files = read_env_files(&host.env, &env_files)?;
    add_missing(&mut environment, from_files);

    let paths = config_paths(opts, host, &environment)?;
    let working_dir = match &opts.project_directory {
        Some(dir) => absolute(&host.cwd, dir),
        None => paths
            .iter()
            .find(|p| p.as_os_str() != "-")
            .and_then(|p| p.parent().map(Path::to_path_buf))
            .unwrap_or_else(|| host.cwd.clone()),
    };
    let files = paths
        .iter()
        .map(|p| read_config(p, host))
        .collect::<Result<Vec<_>, _>>()?;

    let imperative_name = opts.project_name.clone().or_else(|| {
        environment
            .get("COMPOSE_PROJECT_NAME")
            .filter(|n| !n.is_empty())
            .cloned()
    });
    if let Some(name) = &imperative_name {
        if normalize_project_name(name) != *name {
            return Err(LoadError::invalid(format!(
                "invalid project name {name:?}: must consist only of lowercase alphanumeric characters, hyphens, and underscores as well as start with a letter or number"
            )));
        }
    }
    let dir_name = working_dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let profiles = if opts.profiles.is_empty() {
        split_list(
            environment
                .get("COMPOSE_PROFILES")
                .map(String::as_str)
                .unwrap_or(""),
            ',',
        )
    } else {
        opts.profiles.clone()
    };
    Ok(Discovered {
        working_dir,
        files,
        environment,
        imperative_name,
        default_name: normalize_project_name(&dir_name),
        profiles,
    })
}

fn absolute(cwd: &Path, p: &Path) -> PathBuf {
    clean(&cwd.join(p))
}

/// The directory `.env` is read from: the project directory, else the first file's, else cwd.
fn early_working_dir(opts: &ProjectOptions, host: &Host) -> PathBuf {
    if let Some(dir) = &opts.project_directory {
        return absolute(&host.cwd, dir);
    }
    opts.files
        .iter()
        .find(|f| f.as_str() != "-")
        .and_then(|f| {
            absolute(&host.cwd, Path::new(f))
                .parent()
                .map(Path::to_path_buf)
        })
        .unwrap_or_else(|| host.cwd.clone())
}

fn env_files(opts: &ProjectOptions, host: &Host, working_dir: &Path) -> Vec<PathBuf> {
    if !opts.env_files.is_empty() {
        return opts
            .env_files
            .iter()
            .map(|f| absolute(&host.cwd, f))
            .collect();
    }
    if let Some(list) = host.env.get("COMPOSE_ENV_FILES") {
        return split_list(list, ',')
            .iter()
            .map(|f| absolute(&host.cwd, Path::new(f)))
            .collect();
    }
    let disabled = host
        .env
        .get("COMPOSE_DISABLE_ENV_FILE")
        .is_some_and(|v| matches!(v.to_ascii_lowercase().as_str(), "1" | "t" | "true"));
    let dotenv = working_dir.join(".env");
    if disabled || !dotenv.is_file() {
        Vec::new()
    } else {
        vec![dotenv]
    }
}

fn config_paths(
    opts: &ProjectOptions,
    host: &Host,
    env: &Environment,
) -> Result<Vec<PathBuf>, LoadError> {
    if !opts.files.is_empty() {
        return Ok(opts
            .files
            .iter()
            .map(|f| stdin_or_absolute(&host.cwd, f))
            .collect());
    }
    if let Some(list) = env.get("COMPOSE_FILE").filter(|l| !l.is_empty()) {
        let sep = env
            .get("COMPOSE_PATH_SEPARATOR")
            .and_then(|s| s.chars().next())
            .unwrap_or(':');
        return Ok(split_list(list, sep)
            .iter()
            .map(|f| stdin_or_absolute(&host.cwd, f))
            .collect());
    }
    find_default_files(&host.cwd).ok_or(LoadError::NoConfigFile)
}

fn stdin_or_absolute(cwd: &Path, f: &str) -> PathBuf {
    if f == "-" {
        PathBuf::from("-")
    } else {
        absolute(cwd, Path::new(f))
    }
}

/// Walks up from `dir` to the first directory holding a Compose file; adds its override file.
pub fn find_default_files(dir: &Path) -> Option<Vec<PathBuf>> {
    let mut current = Some(dir);
    while let Some(d) = current {
        if let Some(main) = CANDIDATES.iter().map(|c| d.join(c)).find(|p| p.is_file()) {
            let mut files = vec![main];
            if let Some(over) = OVERRIDES.iter().map(|c| d.join(c)).find(|p| p.is_file()) {
                files.push(over);
            }
            return Some(files);
        }
        current = d.parent();
    }
    None
}

fn read_config(path: &Path, host: &Host) -> Result<ConfigFile, LoadError> {
    if path.as_os_str() == "-" {
        return Ok(ConfigFile {
            path: PathBuf::from("-"),
            content: host.stdin.clone().unwrap_or_default(),
        });
    }
    ConfigFile::read(path)
}

fn split_list(s: &str, sep: char) -> Vec<String> {
    s.split(sep)
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(str::to_string)
        .collect()
}

/// Lowercase, only `[a-z0-9_-]`, starting with a letter or digit.
pub fn normalize_project_name(name: &str) -> String {
    let kept: String = name
        .to_lowercase()
        .chars()
        .filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_' || *c == '-')
        .collect();
    kept.trim_start_matches(['_', '-']).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn project_names_normalize() {
        assert_eq!(normalize_project_name("My App.v2"), "myappv2");
        assert_eq!(normalize_project_name("_x-y"), "x-y");
    }

    #[test]
    fn finds_files_upwards_with_override() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("compose.yaml"), "services: {}").unwrap();
        std::fs::write(dir.path().join("compose.override.yaml"), "services: {}").unwrap();
        let sub = dir.path().join("a/b");
        std::fs::create_dir_all(&sub).unwrap();
        let files = find_default_files(&sub).unwrap();
        assert_eq!(
            files,
            vec![
                dir.path().join("compose.yaml"),
                dir.path().join("compose.override.yaml")
            ]
        );
    }

    #[test]
    fn dotenv_supplies_compose_file_and_name() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(".env"),
            "COMPOSE_FILE=x.yaml\nCOMPOSE_PROJECT_NAME=fromenv\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("x.yaml"), "services: {}").unwrap();
        let host = Host {
            cwd: dir.path().to_path_buf(),
            ..Host::default()
        };
        let d = discover(&ProjectOptions::default(), &host).unwrap();
        assert_eq!(d.files[0].path, dir.path().join("x.yaml"));
        assert_eq!(d.imperative_name.as_deref(), Some("fromenv"));
    }

    #[test]
    fn invalid_explicit_name_is_rejected() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("compose.yaml"), "services: {}").unwrap();
        let host = Host {
            cwd: dir.path().to_path_buf(),
            ..Host::default()
        };
        let opts = ProjectOptions {
            project_name: Some("Bad Name".into()),
            ..ProjectOptions::default()
        };
        assert!(
            discover(&opts, &host)
                .unwrap_err()
                .to_string()
                .contains("invalid project name")
        );
    }
}
