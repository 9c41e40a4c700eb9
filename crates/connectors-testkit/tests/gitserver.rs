//! The Git server of the test kit against real git and HTTP.

use connectors_testkit::http::{basic_auth, get};
use connectors_testkit::process::process_alive;
use connectors_testkit::{GitEnv, GitServer, GitServerOptions};
use std::time::Duration;

fn info_refs(server: &GitServer, repo: &str) -> String {
    format!(
        "{}/info/refs?service=git-upload-pack",
        server.repo_url(repo)
    )
}

#[test]
fn basic_auth_guards_the_repositories_but_not_the_root() {
    let server = GitServer::start(GitServerOptions::default()).unwrap();
    server.add_user("alice", "alice-pw-1").unwrap();
    server.create_repo("demo.git").unwrap();

    let root = get(&format!("{}/", server.root_url()), &[]).unwrap();
    assert_eq!(root.status, 200, "{}", root.text());

    let url = info_refs(&server, "demo.git");
    let none = get(&url, &[]).unwrap();
    assert_eq!(none.status, 401);
    assert!(none
        .header("www-authenticate")
        .unwrap_or("")
        .starts_with("Basic"));

    let wrong = get(&url, &[("Authorization", &basic_auth("alice", "nope"))]).unwrap();
    assert_eq!(wrong.status, 401);

    let good = get(
        &url,
        &[("Authorization", &basic_auth("alice", "alice-pw-1"))],
    )
    .unwrap();
    assert_eq!(
        good.status,
        200,
        "{}\nerror log:\n{}",
        good.text(),
        server.error_log()
    );
    assert_eq!(
        good.header("content-type"),
        Some("application/x-git-upload-pack-advertisement")
    );
    assert!(good.text().contains("refs/heads/main"), "{}", good.text());
}

#[test]
fn clone_and_push_with_credentials_in_the_url() {
    let server = GitServer::start(GitServerOptions::default()).unwrap();
    server.add_user("alice", "alice-pw-2").unwrap();
    let seed = server.create_repo("demo.git").unwrap();

    let git = GitEnv::new().unwrap();
    // Without credentials git cannot ask for them (no prompt, no helper).
    let denied = git
        .run(&["clone", "-q", &server.repo_url("demo.git"), "denied"])
        .unwrap();
    assert!(!denied.success(), "{denied:?}");

    let url = server.repo_url_with_credentials("demo.git", "alice", "alice-pw-2");
    let clone = git.clone_repo(&url, "work").unwrap();
    let head = git.run_in(&clone, &["rev-parse", "HEAD"]).unwrap();
    assert_eq!(head.stdout.trim(), seed);
    let branch = git
        .run_in(&clone, &["symbolic-ref", "--short", "HEAD"])
        .unwrap();
    assert_eq!(
        branch.stdout.trim(),
        "main",
        "HEAD of the server must be main"
    );

    let pushed = git
        .commit_file(&clone, "pushed.txt", "from the test\n", "a pushed change")
        .unwrap();
    git.run_in(&clone, &["push", "-q", "origin", "main"])
        .unwrap()
        .ok("git push")
        .unwrap();
    assert_eq!(
        server.branch_commit("demo.git", "main").unwrap().as_deref(),
        Some(pushed.as_str())
    );
    let ls = git
        .run(&["ls-remote", &url, "refs/heads/main"])
        .unwrap()
        .ok("git ls-remote")
        .unwrap();
    assert!(ls.stdout.starts_with(&pushed), "{}", ls.stdout);
}

#[test]
fn password_change_takes_effect_without_restart() {
    let server = GitServer::start(GitServerOptions::default()).unwrap();
    server.add_user("alice", "old-password").unwrap();
    server.add_user("bob", "bob-password").unwrap();
    server.create_repo("demo.git").unwrap();
    let url = info_refs(&server, "demo.git");
    let nginx = server.nginx_pid();

    let old = basic_auth("alice", "old-password");
    assert_eq!(get(&url, &[("Authorization", &old)]).unwrap().status, 200);
    server.set_password("alice", "new-password").unwrap();
    assert_eq!(get(&url, &[("Authorization", &old)]).unwrap().status, 401);
    let new = basic_auth("alice", "new-password");
    assert_eq!(get(&url, &[("Authorization", &new)]).unwrap().status, 200);
    // Other users are untouched, and it is still the same nginx.
    let bob = basic_auth("bob", "bob-password");
    assert_eq!(get(&url, &[("Authorization", &bob)]).unwrap().status, 200);
    assert_eq!(server.nginx_pid(), nginx);
    assert!(server.set_password("carol", "x").is_err());

    // The htpasswd file holds SHA entries (fast for nginx), not bcrypt.
    let htpasswd = std::fs::read_to_string(server.dir().join("htpasswd")).unwrap();
    assert!(htpasswd.contains("alice:{SHA}"), "{htpasswd}");
    assert!(!htpasswd.contains("new-password"));
}

#[test]
fn fake_gitlab_user_endpoint_checks_private_token() {
    let server = GitServer::start(GitServerOptions {
        gitlab_token: Some("glpat-first".into()),
        ..Default::default()
    })
    .unwrap();
    let url = server.gitlab_user_url();
    assert!(url.ends_with("/git/api/v4/user"), "{url}");

    assert_eq!(get(&url, &[]).unwrap().status, 401);
    assert_eq!(
        get(&url, &[("Private-Token", "glpat-wrong")])
            .unwrap()
            .status,
        401
    );
    // Basic auth of a git user is not a GitLab token.
    server.add_user("alice", "pw").unwrap();
    assert_eq!(
        get(&url, &[("Authorization", &basic_auth("alice", "pw"))])
            .unwrap()
            .status,
        401
    );
    let ok = get(&url, &[("Private-Token", "glpat-first")]).unwrap();
    assert_eq!(ok.status, 200);
    let body = ok.json().unwrap();
    assert_eq!(body["id"], 1);
    assert_eq!(body["username"], "demo");

    server.set_gitlab_token("glpat-second").unwrap();
    assert_eq!(
        get(&url, &[("Private-Token", "glpat-second")])
            .unwrap()
            .status,
        200
    );
    assert_eq!(
        get(&url, &[("Private-Token", "glpat-first")])
            .unwrap()
            .status,
        401
    );
    assert_eq!(server.gitlab_token().as_deref(), Some("glpat-second"));
    assert!(server.set_gitlab_token("bad\"token").is_err());

    let without = GitServer::start(GitServerOptions::default()).unwrap();
    let r = get(
        &without.gitlab_user_url(),
        &[("Private-Token", "glpat-first")],
    )
    .unwrap();
    assert_eq!(r.status, 401);
}

#[test]
fn sized_repository_clones_at_least_that_many_bytes() {
    let server = GitServer::start(GitServerOptions::default()).unwrap();
    server.add_user("alice", "pw").unwrap();
    let size = 5 * 1024 * 1024;
    let head = server.create_repo_with_size("big.git", size).unwrap();

    let mut objects = 0u64;
    let mut stack = vec![server.repo_path("big.git").join("objects")];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(dir).unwrap() {
            let e = e.unwrap();
            let meta = e.metadata().unwrap();
            if meta.is_dir() {
                stack.push(e.path());
            } else {
                objects += meta.len();
            }
        }
    }
    assert!(
        objects >= size,
        "objects hold {objects} bytes, wanted {size}"
    );

    let git = GitEnv::new().unwrap();
    let url = server.repo_url_with_credentials("big.git", "alice", "pw");
    let clone = git.clone_repo(&url, "big").unwrap();
    let rev = git.run_in(&clone, &["rev-parse", "HEAD"]).unwrap();
    assert_eq!(rev.stdout.trim(), head);
    let files = std::fs::read_dir(&clone)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with("data-")
        })
        .count();
    assert_eq!(files, 2, "5 MiB in files of at most 4 MiB");
}

#[test]
fn stop_ends_nginx_and_fcgiwrap() {
    let mut server = GitServer::start(GitServerOptions::default()).unwrap();
    let nginx = server.nginx_pid();
    let fcgi = server.fcgiwrap_pid();
    let root = format!("{}/", server.root_url());
    assert!(process_alive(nginx) && process_alive(fcgi));
    server.stop();
    assert!(!process_alive(nginx), "nginx {nginx} still running");
    assert!(!process_alive(fcgi), "fcgiwrap {fcgi} still running");
    let after = connectors_testkit::wait_for_http(&root, Duration::from_millis(100));
    assert!(after.is_err(), "the port still answers after stop");
}
