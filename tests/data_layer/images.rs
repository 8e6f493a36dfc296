//! `image push` with fake container engines on `PATH`: without a working
//! one it says how to push from elsewhere; with one, the registry password
//! goes to `docker login` on stdin only.

use crate::common::*;
use crate::Env;
use std::path::Path;

fn fake_engine(dir: &Path, bin: &str, script: &str) {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(bin);
    std::fs::write(&path, format!("#!/bin/sh\n{script}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn image_push_without_a_container_engine_says_how_to_push_elsewhere() {
    let env = Env::new("dp").await;
    let stack = &env.stack;
    stack.ok("step ecr-repo", &[]);
    let bin = stack.p.workdir.join("nodaemon");
    std::fs::create_dir_all(&bin).unwrap();
    // A client without a daemon, as on this machine.
    fake_engine(&bin, "docker", "echo 'Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?' >&2; exit 1");
    fake_engine(&bin, "podman", "echo 'cannot connect to Podman' >&2; exit 125");
    fake_engine(&bin, "buildah", "exit 1");
    let out = stack
        .command("image push", &["--tag", "v7"])
        .env("PATH", &bin)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    let uri = format!("123456789012.dkr.ecr.{REGION}.amazonaws.com/ecr-api-{}", stack.suffix);
    assert!(err.contains("no working container engine"), "{err}");
    assert!(err.contains("Cannot connect to the Docker daemon"), "{err}");
    assert!(
        err.contains("docker login --username AWS --password-stdin 123456789012.dkr.ecr"),
        "{err}"
    );
    assert!(err.contains(&format!("docker push {uri}:v7")), "{err}");
    assert!(err.contains("--image"), "{err}");
    assert!(stdout(&out).is_empty());
    stack.ok("step ecr-repo", &["--undo"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn image_push_passes_the_registry_password_on_stdin_only() {
    let env = Env::new("dq").await;
    let stack = &env.stack;
    stack.ok("step ecr-repo", &[]);
    let dir = stack.p.workdir.clone();
    let bin = dir.join("engine");
    std::fs::create_dir_all(&bin).unwrap();
    let log = dir.join("docker.args");
    let stdin = dir.join("login.stdin");
    fake_engine(
        &bin,
        "docker",
        &format!(
            "echo \"$@\" >> {log}\nif [ \"$1\" = login ]; then /bin/cat > {stdin}; fi\nexit 0",
            log = log.display(),
            stdin = stdin.display()
        ),
    );
    let ctx = dir.join("ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(ctx.join("Dockerfile"), "FROM scratch\n").unwrap();
    let out = stack
        .command("-vvv image push", &["--tag", "v1", "--context"])
        .arg(&ctx)
        .env("PATH", &bin)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let uri = format!(
        "123456789012.dkr.ecr.{REGION}.amazonaws.com/ecr-api-{}:v1",
        stack.suffix
    );
    assert_eq!(stdout(&out).trim(), uri);
    let args = std::fs::read_to_string(&log).unwrap();
    assert!(
        args.contains("login --username AWS --password-stdin 123456789012.dkr.ecr"),
        "{args}"
    );
    assert!(
        args.contains(&format!("build --platform linux/amd64 -t {uri} {}", ctx.display())),
        "{args}"
    );
    assert!(args.contains(&format!("push {uri}")), "{args}");
    assert!(args.contains("logout"), "{args}");
    // moto's registry password for the default account.
    let password = "123456789012-auth-token";
    assert_eq!(std::fs::read_to_string(&stdin).unwrap(), password);
    assert!(!args.contains(password), "password on a command line");
    assert!(
        !stderr(&out).contains(password) && !stdout(&out).contains(password),
        "password printed"
    );
    stack.ok("step ecr-repo", &["--undo"]);
}
