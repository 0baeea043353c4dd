//! `reference-service [serve | migrate | create-admin --email <e>]`.
#![allow(clippy::print_stderr, clippy::result_large_err)]

use std::process::ExitCode;

use keel_http::json_log;
use reference_service::config::Config;
use reference_service::{AppState, migrate, routes, server};

const USAGE: &str = "\
usage: reference-service [command]

commands:
  serve                      run migrations, then serve HTTP (default)
  migrate                    apply pending migrations and exit
  create-admin --email <e>   create (or promote) an admin; password from KEEL_ADMIN_PASSWORD

configuration comes from the environment (and .env); see the README.
";

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let command = args.first().map_or("serve", String::as_str);
    if matches!(command, "-h" | "--help" | "help") {
        eprint!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let config = match Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("reference-service: {e}");
            return ExitCode::from(2);
        }
    };
    // Flushes buffered log lines when main returns.
    let _log_guard = json_log::init(config.log_format);
    for warning in &config.warnings {
        tracing::warn!(%warning, "weak setting accepted because KEEL_DEV_MODE=true");
    }
    let result = match command {
        "serve" => serve(config).await,
        "migrate" => migrate::all(&config).await,
        "create-admin" => create_admin(config, &args[1..]).await,
        other => Err(format!("unknown command `{other}`\n\n{USAGE}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "reference-service failed");
            eprintln!("reference-service: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(config: Config) -> Result<(), String> {
    migrate::all(&config).await?;
    let bind = config.bind;
    let state = AppState::new(config).await.map_err(|e| e.to_string())?;
    let app = routes::app(&state, None);
    let listener = tokio::net::TcpListener::bind(bind)
        .await
        .map_err(|e| format!("cannot listen on {bind}: {e}"))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    tracing::info!(%addr, docs = %format!("http://{addr}/docs"), "listening");
    let result = server::serve(listener, app, state, keel_http::shutdown_signal()).await;
    result.map_err(|e| e.to_string())
}

async fn create_admin(config: Config, args: &[String]) -> Result<(), String> {
    let email = match args {
        [flag, email] if flag == "--email" => email.clone(),
        _ => return Err("usage: reference-service create-admin --email <address>".into()),
    };
    let password = std::env::var("KEEL_ADMIN_PASSWORD")
        .map_err(|_| "KEEL_ADMIN_PASSWORD is not set (the admin's password)".to_owned())?;
    migrate::all(&config).await?;
    let state = AppState::new(config).await.map_err(|e| e.to_string())?;
    let user = state.users.create_admin(email, password).await;
    // The rule each field broke (keel-envelope's `FieldError` display), never the value.
    let user = user.map_err(|e| {
        let fields: Vec<String> = e.fields().iter().map(ToString::to_string).collect();
        format!("{e} [{}]", fields.join("; "))
    })?;
    eprintln!("admin ready: {} ({})", user.email, user.id);
    Ok(())
}
