//! Registers a demo patient's "phone" against a running gp-online server with the tests' software
//! passkey ([`SoftDiscoverablePasskey`]), lists the account's devices, then signs in again
//! without a username (a discoverable-credential login), printing what happens at each step.
//! Tokens are never printed in full: only their first 8 characters.
//!
//! ```sh
//! # In a scratch directory: load the demo practice (into ./data) and keep its linkage details.
//! cargo run -p gp-online -- demo --json > /tmp/demo.json
//! # Serve the same ./data over HTTPS (the dev certificate is ./data/dev-cert.pem).
//! cargo run -p gp-online -- serve &
//! # Register demo patient number 3 (0-based) and sign in with the new passkey.
//! cargo run -p gp-online-tests --example register-demo-patient -- --demo-json /tmp/demo.json --index 3
//! ```
//!
//! Options (`--help` lists them all):
//!
//! * `--server URL` (default `https://127.0.0.1:8443`) and `--ca PEM` (default
//!   `data/dev-cert.pem`, the only certificate trusted);
//! * `--demo-json FILE` with `--index N` (default 0) to take the linkage details of the N-th
//!   patient of `gp-online demo --json`, or else all of `--account-id`, `--linkage-key`,
//!   `--ods-code`, `--surname` and `--date-of-birth YYYY-MM-DD`;
//! * `--origin URL` (default `https://localhost`): the browser origin the passkey signs for,
//!   which must match the server's relying party;
//! * `--key-file PATH`: save the software passkey there (JSON holding its private key, written
//!   owner-only; an existing file is replaced) so that a later run with `--login-only
//!   --key-file PATH` signs in again without registering:
//!
//! ```sh
//! cargo run -p gp-online-tests --example register-demo-patient -- \
//!     --demo-json /tmp/demo.json --index 3 --key-file /tmp/phone.json
//! cargo run -p gp-online-tests --example register-demo-patient -- --login-only --key-file /tmp/phone.json
//! ```
//!
//! A failed request prints the problem's `code` and `detail` and exits with status 1.
#![allow(clippy::print_stdout)] // A command-line example prints its results.

use anyhow::{Context as _, anyhow};
use clap::Parser;
use gp_online_tests::passkey::SoftDiscoverablePasskey;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Registers a demo patient with a software passkey, then signs in with it.
#[derive(Debug, Parser)]
#[command(name = "register-demo-patient")]
struct Args {
    /// Base URL of the running server.
    #[arg(long, default_value = "https://127.0.0.1:8443")]
    server: String,
    /// PEM certificate to trust (the server's development certificate).
    #[arg(long, default_value = "data/dev-cert.pem")]
    ca: PathBuf,
    /// Output of `gp-online demo --json` to take the patient's linkage details from.
    #[arg(long, conflicts_with_all = ["account_id", "linkage_key", "ods_code", "surname", "date_of_birth"])]
    demo_json: Option<PathBuf>,
    /// Which demo patient (0-based) with --demo-json.
    #[arg(long, default_value_t = 0, requires = "demo_json")]
    index: usize,
    /// Account ID (without --demo-json).
    #[arg(long, required_unless_present_any = ["demo_json", "login_only"])]
    account_id: Option<String>,
    /// Linkage key (without --demo-json).
    #[arg(long, required_unless_present_any = ["demo_json", "login_only"])]
    linkage_key: Option<String>,
    /// Practice ODS code (without --demo-json).
    #[arg(long, required_unless_present_any = ["demo_json", "login_only"])]
    ods_code: Option<String>,
    /// Surname (without --demo-json).
    #[arg(long, required_unless_present_any = ["demo_json", "login_only"])]
    surname: Option<String>,
    /// Date of birth, YYYY-MM-DD (without --demo-json).
    #[arg(long, required_unless_present_any = ["demo_json", "login_only"])]
    date_of_birth: Option<String>,
    /// Origin the passkey signs for (must be allowed by the server's relying party).
    #[arg(long, default_value = "https://localhost")]
    origin: String,
    /// Where to save the software passkey (JSON, private key included).
    #[arg(long)]
    key_file: Option<PathBuf>,
    /// Only sign in, with the passkey saved in --key-file by an earlier run.
    #[arg(long, requires = "key_file", conflicts_with_all = ["demo_json", "account_id"])]
    login_only: bool,
    /// Device name given at registration.
    #[arg(long, default_value = "Software passkey (register-demo-patient)")]
    device_name: String,
}

/// The linkage details a patient registers with.
#[derive(Debug)]
struct Patient {
    /// How to introduce the patient.
    display: String,
    account_id: String,
    linkage_key: String,
    ods_code: String,
    surname: String,
    date_of_birth: String,
}

/// An `application/problem+json` answer (or any other failed response).
#[derive(Debug)]
struct Problem {
    request: String,
    status: reqwest::StatusCode,
    code: String,
    detail: String,
    /// `invalid_params` of a `validation_failed` problem, as `name: reason`.
    invalid: Vec<String>,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} failed with {}: code {}, detail: {}",
            self.request, self.status, self.code, self.detail
        )?;
        for field in &self.invalid {
            write!(f, "; {field}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Problem {}

/// A client for the server's JSON API.
struct Api {
    client: reqwest::Client,
    base: String,
}

impl Api {
    async fn post(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        let request = self.client.post(format!("{}{path}", self.base)).json(body);
        self.send(format!("POST {path}"), request).await
    }

    async fn get(&self, path: &str, access_token: &str) -> anyhow::Result<Value> {
        let request = self
            .client
            .get(format!("{}{path}", self.base))
            .bearer_auth(access_token);
        self.send(format!("GET {path}"), request).await
    }

    async fn send(&self, what: String, request: reqwest::RequestBuilder) -> anyhow::Result<Value> {
        let response = request
            .send()
            .await
            .with_context(|| format!("{what}: no response from {}", self.base))?;
        let status = response.status();
        let text = response
            .text()
            .await
            .with_context(|| format!("{what}: reading the response"))?;
        if status.is_success() {
            return serde_json::from_str(&text)
                .with_context(|| format!("{what}: the response is not JSON: {text}"));
        }
        let problem: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        let field = |name: &str| problem[name].as_str().map(str::to_owned);
        let invalid = problem["invalid_params"]
            .as_array()
            .map(|fields| {
                fields
                    .iter()
                    .map(|f| {
                        format!(
                            "{}: {}",
                            f["name"].as_str().unwrap_or("?"),
                            f["reason"].as_str().unwrap_or("?")
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        Err(Problem {
            request: what,
            status,
            code: field("code").unwrap_or_else(|| "(none)".to_owned()),
            detail: field("detail").unwrap_or_else(|| {
                if problem.is_null() {
                    format!("(not problem+json) {text}")
                } else {
                    "(none)".to_owned()
                }
            }),
            invalid,
        }
        .into())
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            match error.downcast_ref::<Problem>() {
                Some(problem) => {
                    eprintln!("error: {} failed with {}", problem.request, problem.status);
                    eprintln!("  code:   {}", problem.code);
                    eprintln!("  detail: {}", problem.detail);
                    for field in &problem.invalid {
                        eprintln!("  invalid: {field}");
                    }
                }
                None => eprintln!("error: {error:#}"),
            }
            ExitCode::from(1)
        }
    }
}

async fn run(args: Args) -> anyhow::Result<()> {
    gp_online::tls::install_crypto_provider();
    let pem = std::fs::read(&args.ca).with_context(|| {
        format!(
            "reading the CA certificate {} (the server writes data/dev-cert.pem in its working \
             directory on first start; pass --ca)",
            args.ca.display()
        )
    })?;
    let certificate = reqwest::Certificate::from_pem(&pem)
        .with_context(|| format!("{} is not a PEM certificate", args.ca.display()))?;
    let client = reqwest::Client::builder()
        .tls_certs_only([certificate])
        .build()
        .context("building the HTTP client")?;
    let api = Api {
        client,
        base: args.server.trim_end_matches('/').to_owned(),
    };
    println!("Server: {} (passkey origin {})", api.base, args.origin);

    let (mut passkey, registered_device) = if args.login_only {
        let path = args
            .key_file
            .as_deref()
            .ok_or_else(|| anyhow!("--login-only needs --key-file"))?;
        let passkey = load_passkey(path)?;
        println!(
            "Passkey: loaded from {} ({} credential(s))",
            path.display(),
            passkey.credential_count()
        );
        (passkey, None)
    } else {
        let patient = patient(&args)?;
        println!("Patient: {}", patient.display);
        let mut passkey = SoftDiscoverablePasskey::new(true);
        let tokens = register(&api, &args, &patient, &mut passkey).await?;
        print_tokens("Registered", &tokens);
        if let Some(path) = &args.key_file {
            save_passkey(path, &passkey)?;
            println!("Passkey: saved to {}", path.display());
        }
        print_devices(&api, &tokens).await?;
        (passkey, tokens["device_id"].as_str().map(str::to_owned))
    };

    let tokens = login(&api, &args.origin, &mut passkey).await?;
    print_tokens("Usernameless login", &tokens);
    if let Some(registered) = registered_device {
        let same = tokens["device_id"].as_str() == Some(registered.as_str());
        println!(
            "  same device as registered: {}",
            if same { "yes" } else { "NO" }
        );
    }
    // The signature counter moved on: keep the saved passkey in step with the server.
    if let Some(path) = &args.key_file {
        save_passkey(path, &passkey)?;
    }
    if args.login_only {
        print_devices(&api, &tokens).await?;
    }
    Ok(())
}

/// The patient's linkage details, from --demo-json or the individual options.
fn patient(args: &Args) -> anyhow::Result<Patient> {
    let Some(path) = &args.demo_json else {
        let required = |value: &Option<String>, name: &str| {
            value
                .clone()
                .ok_or_else(|| anyhow!("--{name} is required without --demo-json"))
        };
        let surname = required(&args.surname, "surname")?;
        let account_id = required(&args.account_id, "account-id")?;
        return Ok(Patient {
            display: format!("{surname} (account id {account_id})"),
            account_id,
            linkage_key: required(&args.linkage_key, "linkage-key")?,
            ods_code: required(&args.ods_code, "ods-code")?,
            surname,
            date_of_birth: required(&args.date_of_birth, "date-of-birth")?,
        });
    };
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let demo: Value = serde_json::from_str(&text).with_context(|| {
        format!(
            "{} is not JSON (expected `gp-online demo --json` output)",
            path.display()
        )
    })?;
    let patients = demo["patients"]
        .as_array()
        .ok_or_else(|| anyhow!("{}: no `patients` array", path.display()))?;
    let entry = patients.get(args.index).ok_or_else(|| {
        anyhow!(
            "--index {} is out of range: {} has {} patients (0 to {})",
            args.index,
            path.display(),
            patients.len(),
            patients.len().saturating_sub(1)
        )
    })?;
    let field = |name: &str| {
        entry[name]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| anyhow!("patients[{}].{name}: expected a string", args.index))
    };
    let practice = demo["practice"]["name"].as_str().unwrap_or("?");
    Ok(Patient {
        display: format!(
            "{} {}, born {}, NHS number {}, {} ({}), account id {} [demo patient {} of {}]",
            field("given_name")?,
            field("family_name")?,
            field("date_of_birth")?,
            field("nhs_number")?,
            practice,
            field("ods_code")?,
            field("account_id")?,
            args.index,
            patients.len()
        ),
        account_id: field("account_id")?,
        linkage_key: field("linkage_key")?,
        ods_code: field("ods_code")?,
        surname: field("family_name")?,
        date_of_birth: field("date_of_birth")?,
    })
}

/// The registration ceremony: begin with the linkage details, answer with the passkey, finish.
async fn register(
    api: &Api,
    args: &Args,
    patient: &Patient,
    passkey: &mut SoftDiscoverablePasskey,
) -> anyhow::Result<Value> {
    let begun = api
        .post(
            "/api/v1/registration/begin",
            &json!({
                "account_id": patient.account_id,
                "linkage_key": patient.linkage_key,
                "ods_code": patient.ods_code,
                "surname": patient.surname,
                "date_of_birth": patient.date_of_birth,
            }),
        )
        .await?;
    let options = &begun["public_key"];
    println!(
        "Registration begun: ceremony {}, relying party {:?}",
        begun["ceremony_id"].as_str().unwrap_or("?"),
        options["publicKey"]["rp"]["id"].as_str().unwrap_or("?")
    );
    let credential = passkey
        .register(&args.origin, options)
        .map_err(|e| anyhow!("the software passkey refused to register: {e}"))?;
    api.post(
        "/api/v1/registration/finish",
        &json!({
            "ceremony_id": begun["ceremony_id"],
            "credential": credential,
            "device_name": args.device_name,
        }),
    )
    .await
}

/// The usernameless login ceremony.
async fn login(
    api: &Api,
    origin: &str,
    passkey: &mut SoftDiscoverablePasskey,
) -> anyhow::Result<Value> {
    let begun = api.post("/api/v1/login/begin", &json!({})).await?;
    let credential = passkey
        .authenticate(origin, &begun["public_key"])
        .map_err(|e| anyhow!("the software passkey refused to sign in: {e}"))?;
    api.post(
        "/api/v1/login/finish",
        &json!({"ceremony_id": begun["ceremony_id"], "credential": credential}),
    )
    .await
}

/// Prints a token response without revealing the tokens.
fn print_tokens(what: &str, tokens: &Value) {
    let text = |name: &str| tokens[name].as_str().unwrap_or("(none)");
    println!("{what}:");
    println!("  session kind:  {}", text("session_kind"));
    println!("  device id:     {}", text("device_id"));
    println!("  session id:    {}", text("session_id"));
    println!(
        "  access token:  {} (expires in {} s)",
        redact(text("access_token")),
        tokens["expires_in"]
    );
    println!("  refresh token: {}", redact(text("refresh_token")));
}

/// Lists the account's devices with the session's access token.
async fn print_devices(api: &Api, tokens: &Value) -> anyhow::Result<()> {
    let access_token = tokens["access_token"]
        .as_str()
        .ok_or_else(|| anyhow!("the token response has no access_token"))?;
    let devices = api.get("/api/v1/me/devices", access_token).await?;
    let devices = devices
        .as_array()
        .ok_or_else(|| anyhow!("GET /api/v1/me/devices: expected an array, got {devices}"))?;
    println!("Devices ({}):", devices.len());
    for device in devices {
        let text = |name: &str| device[name].as_str().unwrap_or("-");
        println!(
            "  {} {:?} id {}, added {}, last seen {}",
            if device["current"] == true { "*" } else { " " },
            text("name"),
            text("id"),
            text("created_at"),
            text("last_seen_at"),
        );
    }
    Ok(())
}

/// The first 8 characters of a secret, then an ellipsis.
fn redact(secret: &str) -> String {
    let start: String = secret.chars().take(8).collect();
    format!("{start}…")
}

fn load_passkey(path: &Path) -> anyhow::Result<SoftDiscoverablePasskey> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let value: Value =
        serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))?;
    SoftDiscoverablePasskey::from_json(&value)
        .map_err(|e| anyhow!("{} is not a saved passkey: {e}", path.display()))
}

/// Writes the passkey (private keys included) readable by its owner only.
fn save_passkey(path: &Path, passkey: &SoftDiscoverablePasskey) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
        options.mode(0o600);
        if path.exists() {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
                .with_context(|| format!("restricting {}", path.display()))?;
        }
    }
    let mut file = options
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    let text = serde_json::to_string_pretty(&passkey.to_json())?;
    writeln!(file, "{text}").with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}
