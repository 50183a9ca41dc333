//! `extends`: a service starts from another service's definition, in the same file or another
//! one, through chains of any length. The base is merged under the extending service by the
//! usual merge rules, after the extending file's `!reset`/`!override` have removed what they
//! replace. Paths in a base from another file resolve against that file's directory.

use std::path::{Path, PathBuf};

use super::error::LoadError;
use super::loader::{ConfigFile, Loader};
use super::merge::merge;
use super::node::{KeyPath, Map, Node};
use super::paths::PathResolver;
use super::reset::Resets;

/// The `(file, service)` pairs of the chain being resolved, to detect cycles.
#[derive(Clone, Default)]
struct Chain(Vec<(PathBuf, String)>);

impl Chain {
    fn add(&self, file: &Path, service: &str) -> Result<Chain, LoadError> {
        let link = (file.to_path_buf(), service.to_string());
        if self.0.contains(&link) {
            let mut names: Vec<String> = self
                .0
                .iter()
                .map(|(f, s)| format!("{s} ({})", f.display()))
                .collect();
            names.push(format!("{service} ({})", file.display()));
            return Err(LoadError::invalid(format!(
                "circular reference with extends: {}",
                names.join(" -> ")
            )));
        }
        let mut next = self.clone();
        next.0.push(link);
        Ok(next)
    }
}

/// Resolves `extends` for every service of `doc`.
pub fn apply_extends(
    loader: &Loader,
    doc: &mut Node,
    file: &Path,
    resets: &Resets,
) -> Result<(), LoadError> {
    let Some(services) = doc.get_mut("services") else {
        return Ok(());
    };
    let Some(services) = services.as_map_mut() else {
        return Err(LoadError::at(
            Some(services),
            &KeyPath::root().key("services"),
            "services must be a mapping",
        ));
    };
    let names: Vec<String> = services.keys().cloned().collect();
    for name in names {
        let ctx = Ctx {
            loader,
            file: file.to_path_buf(),
            working_dir: loader.working_dir.to_path_buf(),
        };
        if let Some(merged) = ctx.extend(&name, services, &Chain::default(), resets)? {
            services.insert(name, merged);
        }
    }
    Ok(())
}

struct Ctx<'a, 'b> {
    loader: &'a Loader<'b>,
    file: PathBuf,
    working_dir: PathBuf,
}

impl Ctx<'_, '_> {
    /// The fully extended definition of `services[name]` (also stored back into `services`).
    fn extend(
        &self,
        name: &str,
        services: &mut Map,
        chain: &Chain,
        resets: &Resets,
    ) -> Result<Option<Node>, LoadError> {
        let path = KeyPath::root().key("services").key(name);
        let Some(service) = services.get(name).cloned() else {
            return Ok(None);
        };
        if service.is_null() {
            return Ok(None);
        }
        if service.as_map().is_none() {
            return Err(LoadError::at(
                Some(&service),
                &path,
                "a service must be a mapping",
            ));
        }
        let Some(ext) = service.get("extends") else {
            return Ok(Some(service));
        };
        let (base_name, base_file) = parse_extends(ext, &path)?;
        let chain = chain.add(&self.file, name)?;
        let base = match base_file {
            None => {
                if !services.contains_key(&base_name) {
                    return Err(LoadError::at(
                        Some(ext),
                        &path.key("extends"),
                        format!(
                            "cannot extend service {name:?} in {}: service {base_name:?} not found",
                            self.file.display()
                        ),
                    ));
                }
                self.extend(&base_name, services, &chain, resets)?
            }
            Some(file) => self.extend_from_file(name, &base_name, &file, ext, &chain)?,
        };
        let Some(mut base) = base else {
            return Ok(Some(service));
        };
        let mut wrapper = Node::map(Map::from_iter([(
            "services".to_string(),
            Node::map(Map::from_iter([(name.to_string(), base.clone())])),
        )]));
        resets
            .for_service(name)
            .apply(&mut wrapper, &KeyPath::root());
        if let Some(reset_base) = wrapper.get("services").and_then(|s| s.get(name)) {
            base = reset_base.clone();
        }
        let mut merged = merge(base, service, &path);
        if let Some(map) = merged.as_map_mut() {
            map.shift_remove("extends");
        }
        services.insert(name.to_string(), merged.clone());
        Ok(Some(merged))
    }

    fn extend_from_file(
        &self,
        name: &str,
        base_name: &str,
        file: &str,
        ext: &Node,
        chain: &Chain,
    ) -> Result<Option<Node>, LoadError> {
        let resolver = PathResolver {
            working_dir: &self.working_dir,
            home: self.loader.opts.home.as_deref(),
        };
        let file_path = PathBuf::from(resolver.absolute(file));
        let config = ConfigFile::read(&file_path)?;
        let file_dir = file_path.parent().unwrap_or(Path::new("/")).to_path_buf();
        let loader = Loader {
            opts: self.loader.opts,
            env: self.loader.env,
            working_dir: &file_dir,
            skip_include: true,
            skip_extends: true,
        };
        let (mut source, base_resets) = loader.load_file(&config, Node::map(Map::new()), &[])?;
        PathResolver {
            working_dir: &file_dir,
            home: self.loader.opts.home.as_deref(),
        }
        .resolve(&mut source, &KeyPath::root());
        let path = KeyPath::root().key("services").key(name).key("extends");
        let Some(mut base_services) = source.get("services").and_then(Node::as_map).cloned() else {
            return Err(LoadError::at(
                Some(ext),
                &path,
                format!("cannot extend service {name:?}: {file} has no services section"),
            ));
        };
        if !base_services.contains_key(base_name) {
            return Err(LoadError::at(
                Some(ext),
                &path,
                format!(
                    "cannot extend service {name:?}: service {base_name:?} not found in {file}"
                ),
            ));
        }
        let ctx = Ctx {
            loader: &loader,
            file: file_path,
            working_dir: file_dir.clone(),
        };
        ctx.extend(base_name, &mut base_services, chain, &base_resets)
    }
}

fn parse_extends(ext: &Node, path: &KeyPath) -> Result<(String, Option<String>), LoadError> {
    if let Some(s) = ext.as_str() {
        return Ok((s.to_string(), None));
    }
    let service = ext.get("service").and_then(Node::as_str).ok_or_else(|| {
        LoadError::at(
            Some(ext),
            &path.key("extends").key("service"),
            "extends.service is required",
        )
    })?;
    let file = ext.get("file").and_then(Node::as_str).map(str::to_string);
    Ok((service.to_string(), file))
}
