//! Builds the web UI (web/, React + Vite) with npm and embeds its files in the gateway binary.
//!
//! Cargo reruns this when anything under web/src, web/index.html or the npm manifests changes,
//! so the embedded UI is never stale. `npm ci` runs when web/node_modules is missing or older
//! than package-lock.json. `SNIPERFORGE_WEB_DIST=DIR` embeds an already built UI instead (no
//! npm needed), e.g. for packaging.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let web = manifest.join("../web");
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets it"));
    for p in [
        "src",
        "index.html",
        "package.json",
        "package-lock.json",
        "vite.config.ts",
        "tsconfig.json",
    ] {
        println!("cargo:rerun-if-changed={}", web.join(p).display());
    }
    println!("cargo:rerun-if-env-changed=SNIPERFORGE_WEB_DIST");

    let dist = match std::env::var_os("SNIPERFORGE_WEB_DIST") {
        Some(d) => PathBuf::from(d),
        None => {
            let dist = out.join("web-dist");
            build(&web, &dist);
            dist
        }
    };
    let mut files = Vec::new();
    collect(&dist, &dist, &mut files);
    files.sort();
    if !files.iter().any(|(rel, _)| rel == "index.html") {
        fail(&format!("{} has no index.html", dist.display()));
    }
    let mut code = String::from(
        "/// The web UI's files: (path under /, bytes).\npub static ASSETS: &[(&str, &[u8])] = &[\n",
    );
    for (rel, abs) in &files {
        let _ = writeln!(
            code,
            "    ({rel:?}, include_bytes!({:?})),",
            abs.display().to_string()
        );
    }
    code.push_str("];\n");
    std::fs::write(out.join("web_assets.rs"), code)
        .unwrap_or_else(|e| fail(&format!("writing web_assets.rs: {e}")));
}

fn fail(msg: &str) -> ! {
    eprintln!("error: building the web UI: {msg}");
    panic!("building the web UI: {msg}");
}

fn npm(web: &Path, args: &[&str]) {
    let status = Command::new("npm")
        .args(args)
        .current_dir(web)
        .status()
        .unwrap_or_else(|e| {
            fail(&format!(
                "running npm ({e}): the gateway embeds the UI in web/, which needs Node.js 20+ and npm \
                 (Debian: apt-get install nodejs npm), or SNIPERFORGE_WEB_DIST=<a built web/dist>"
            ))
        });
    if !status.success() {
        fail(&format!(
            "npm {} in {} failed ({status})",
            args.join(" "),
            web.display()
        ));
    }
}

fn build(web: &Path, dist: &Path) {
    let modules = web.join("node_modules/.package-lock.json");
    let lock = web.join("package-lock.json");
    let mtime = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    if mtime(&modules).is_none() || mtime(&modules) < mtime(&lock) {
        npm(web, &["ci", "--no-audit", "--no-fund", "--loglevel=error"]);
    }
    let out = dist.display().to_string();
    npm(
        web,
        &[
            "exec",
            "--",
            "vite",
            "build",
            "--logLevel",
            "warn",
            "--emptyOutDir",
            "--outDir",
            &out,
        ],
    );
}

fn collect(root: &Path, dir: &Path, out: &mut Vec<(String, PathBuf)>) {
    let entries =
        std::fs::read_dir(dir).unwrap_or_else(|e| fail(&format!("reading {}: {e}", dir.display())));
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(root, &path, out);
        } else if let Ok(rel) = path.strip_prefix(root) {
            out.push((rel.to_string_lossy().replace('\\', "/"), path));
        }
    }
}
