//! `gp-patient`: a command-line patient app for trying a gp-online server, built only on the
//! SDK's public API ([`gp_online_sdk::GpOnline`]). Its store folder holds the SDK's encrypted
//! store (`store/`), the host key a phone would keep in its Keychain or Keystore (`host.key`,
//! owner-only) and a development-only software passkey sealed under that key (`passkey`).
//!
//! Writes are queued as intents and go out at the next `sync`, so they work with the server
//! down. Exit codes: 0 success, 1 a runtime failure (or a refused intent), 2 a usage error.
#![allow(clippy::print_stdout)] // A command-line app prints its results.

mod softkey;

use clap::{Parser, Subcommand};
use gp_online_sdk::store::crypto::Key;
use gp_online_sdk::{
    GpOnline, Item, SdkConfig, SdkError, SdkEvent, SdkListener, Section, SyncReport, Trust,
};
use ring::rand::{SecureRandom as _, SystemRandom};
use softkey::SoftPasskey;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

/// A patient app on the command line.
#[derive(Debug, Parser)]
#[command(name = "gp-patient", version)]
struct Args {
    /// The server's base URL.
    #[arg(long)]
    server: String,
    /// A PEM CA certificate to trust instead of the system's (a development server).
    #[arg(long)]
    ca_cert: Option<PathBuf>,
    /// The folder of this "phone": its encrypted store, host key and software passkey.
    #[arg(long)]
    store: PathBuf,
    /// The origin the software passkey signs for (the server's relying party).
    #[arg(long, default_value = "https://localhost")]
    origin: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Registers with the practice's linkage details and a new software passkey.
    Register {
        #[arg(long)]
        account_id: String,
        #[arg(long)]
        linkage_key: String,
        #[arg(long)]
        ods: String,
        #[arg(long)]
        surname: String,
        /// Date of birth, YYYY-MM-DD.
        #[arg(long)]
        dob: String,
    },
    /// Signs in again with the software passkey.
    Login,
    /// Signs this device out and destroys its store.
    SignOut,
    /// The account's devices.
    Devices {
        #[arg(long)]
        json: bool,
    },
    /// Revokes one of the account's devices.
    RevokeDevice { id: String },
    /// The people the account acts for.
    Profiles {
        #[arg(long)]
        json: bool,
    },
    /// Syncs; with --watch stays live until Ctrl-C.
    Sync {
        #[arg(long)]
        watch: bool,
    },
    /// Shows a section from the store (works offline).
    Show {
        /// profile, record, results, documents, appointments, medications or messages.
        section: String,
        #[arg(long)]
        patient: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Open slots (online).
    Slots {
        #[arg(long)]
        patient: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Queues booking a slot.
    Book {
        slot_id: String,
        #[arg(long)]
        reason: Option<String>,
        #[arg(long)]
        patient: Option<String>,
    },
    /// Queues cancelling an appointment.
    Cancel {
        appointment_id: String,
        #[arg(long)]
        reason: String,
        #[arg(long)]
        patient: Option<String>,
    },
    /// Queues ordering repeat courses.
    Order {
        #[arg(required = true)]
        course_ids: Vec<String>,
        #[arg(long)]
        note: Option<String>,
        #[arg(long)]
        patient: Option<String>,
    },
    /// Queues a message (a new thread without --thread).
    Message {
        #[arg(long)]
        thread: Option<String>,
        #[arg(long)]
        subject: Option<String>,
        #[arg(long)]
        body: String,
        #[arg(long)]
        patient: Option<String>,
    },
    /// Sets a private note on an item.
    Note {
        item_id: String,
        text: String,
        #[arg(long)]
        patient: Option<String>,
    },
    /// Hides an item on the account's devices.
    Hide {
        item_id: String,
        #[arg(long)]
        patient: Option<String>,
    },
    /// Marks an item read.
    Read {
        item_id: String,
        #[arg(long)]
        patient: Option<String>,
    },
    /// Intents not yet settled, with their keys.
    Pending {
        #[arg(long)]
        json: bool,
    },
}

/// A failure, printed without personal data.
enum Failure {
    Usage(String),
    Runtime(String),
}

impl From<SdkError> for Failure {
    fn from(error: SdkError) -> Self {
        Self::Runtime(error.to_string())
    }
}

type Outcome = Result<ExitCode, Failure>;

fn main() -> ExitCode {
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(run(args)) {
        Ok(code) => code,
        Err(Failure::Usage(message)) => {
            eprintln!("error: {message}");
            ExitCode::from(2)
        }
        Err(Failure::Runtime(message)) => {
            eprintln!("error: {message}");
            ExitCode::from(1)
        }
    }
}

/// The host key: 32 random bytes made on first use, kept owner-only (a phone keeps it in its
/// Keychain or Keystore).
fn host_key(dir: &Path) -> Result<Vec<u8>, Failure> {
    let path = dir.join("host.key");
    if let Ok(bytes) = std::fs::read(&path) {
        return if bytes.len() == 32 {
            Ok(bytes)
        } else {
            Err(Failure::Runtime(format!(
                "{} is not a host key",
                path.display()
            )))
        };
    }
    let mut key = [0u8; 32];
    SystemRandom::new()
        .fill(&mut key)
        .map_err(|_| Failure::Runtime("no random source".to_owned()))?;
    write_private(&path, &key)?;
    Ok(key.to_vec())
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<(), Failure> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    options
        .open(path)
        .and_then(|mut file| file.write_all(bytes))
        .map_err(|e| Failure::Runtime(format!("writing {}: {e}", path.display())))
}

fn key_of(host: &[u8]) -> Result<Key, Failure> {
    let bytes: [u8; 32] = host
        .try_into()
        .map_err(|_| Failure::Runtime("host key".to_owned()))?;
    Ok(Key::from_bytes(bytes))
}

fn load_passkey(dir: &Path, host: &[u8]) -> Result<SoftPasskey, Failure> {
    let Ok(sealed) = std::fs::read(dir.join("passkey")) else {
        return Ok(SoftPasskey::default());
    };
    let plain = key_of(host)?
        .open("passkey", &sealed)
        .map_err(|_| Failure::Runtime("the software passkey does not open".to_owned()))?;
    serde_json::from_slice(&plain)
        .map_err(|_| Failure::Runtime("the software passkey is malformed".to_owned()))
}

fn save_passkey(dir: &Path, host: &[u8], passkey: &SoftPasskey) -> Result<(), Failure> {
    let plain = serde_json::to_vec(passkey).map_err(|e| Failure::Runtime(e.to_string()))?;
    let sealed = key_of(host)?
        .seal(&SystemRandom::new(), "passkey", &plain)
        .map_err(|_| Failure::Runtime("sealing the passkey".to_owned()))?;
    write_private(&dir.join("passkey"), &sealed)
}

/// Prints sync progress and events on standard error.
struct Progress;

impl SdkListener for Progress {
    fn on_event(&self, event: SdkEvent) {
        match event {
            SdkEvent::SyncProgress { round, done } => {
                eprintln!(
                    "sync: round {round}{}",
                    if done { ", up to date" } else { "" }
                );
            }
            SdkEvent::DocumentChanged { document } => {
                eprintln!("changed: {} of {}", document.section, document.patient_id);
            }
            SdkEvent::DocumentDestroyed { document } => {
                eprintln!("destroyed: {} of {}", document.section, document.patient_id);
            }
            SdkEvent::IntentSettled { result } => {
                eprintln!("settled: {}", settled_line(&result));
            }
            SdkEvent::Revoked => eprintln!("revoked: the store was wiped"),
            SdkEvent::LiveConnection { connected } => {
                eprintln!(
                    "live: {}",
                    if connected {
                        "connected"
                    } else {
                        "disconnected"
                    }
                );
            }
        }
    }
}

fn settled_line(result: &gp_online_sdk::IntentResult) -> String {
    match (&result.code, &result.id) {
        (Some(code), _) => format!("intent {} refused: {code}", result.key),
        (None, Some(id)) => format!("intent {} accepted: {id}", result.key),
        (None, None) => format!("intent {} accepted", result.key),
    }
}

async fn run(args: Args) -> Outcome {
    std::fs::create_dir_all(&args.store)
        .map_err(|e| Failure::Runtime(format!("creating {}: {e}", args.store.display())))?;
    let host = host_key(&args.store)?;
    let trust = match &args.ca_cert {
        Some(path) => Trust::PinnedCa {
            pem: std::fs::read_to_string(path)
                .map_err(|e| Failure::Usage(format!("--ca-cert {}: {e}", path.display())))?,
        },
        None => Trust::SystemRoots,
    };
    let config = SdkConfig {
        server_url: args.server.clone(),
        trust,
        store_dir: args.store.join("store").display().to_string(),
        key_material: host.clone(),
        device_name: "gp-patient".to_owned(),
    };
    let sdk = GpOnline::new(config).map_err(|e| match e {
        SdkError::Other { reason } => Failure::Usage(reason),
        other => other.into(),
    })?;
    sdk.set_listener(Some(Arc::new(Progress)));
    let patient = |given: &Option<String>| -> Result<String, Failure> {
        if let Some(id) = given {
            return Ok(id.clone());
        }
        sdk.profiles()?
            .into_iter()
            .find(|p| !p.acting_as_proxy)
            .or_else(|| sdk.profiles().ok()?.into_iter().next())
            .map(|p| p.patient_id)
            .ok_or_else(|| Failure::Runtime("no profile: register or sync first".to_owned()))
    };
    let ok = Ok(ExitCode::SUCCESS);
    match args.command {
        Command::Register {
            account_id,
            linkage_key,
            ods,
            surname,
            dob,
        } => {
            let mut passkey = load_passkey(&args.store, &host)?;
            let ceremony = sdk
                .begin_registration(account_id, linkage_key, ods, surname, dob)
                .await?;
            let options: serde_json::Value = serde_json::from_str(&ceremony.options_json)
                .map_err(|e| Failure::Runtime(e.to_string()))?;
            let answer = passkey
                .register(&args.origin, &options)
                .map_err(Failure::Runtime)?;
            save_passkey(&args.store, &host, &passkey)?;
            sdk.finish_registration(ceremony.ceremony_id, answer.to_string())
                .await?;
            println!("registered; profiles: {}", sdk.profiles()?.len());
            ok
        }
        Command::Login => {
            let mut passkey = load_passkey(&args.store, &host)?;
            let ceremony = sdk.begin_sign_in().await?;
            let options: serde_json::Value = serde_json::from_str(&ceremony.options_json)
                .map_err(|e| Failure::Runtime(e.to_string()))?;
            let answer = passkey
                .authenticate(&args.origin, &options)
                .map_err(Failure::Runtime)?;
            save_passkey(&args.store, &host, &passkey)?;
            sdk.finish_sign_in(ceremony.ceremony_id, answer.to_string())
                .await?;
            println!("signed in; profiles: {}", sdk.profiles()?.len());
            ok
        }
        Command::SignOut => {
            sdk.sign_out().await?;
            println!("signed out; the store is destroyed");
            ok
        }
        Command::Devices { json } => {
            let devices = sdk.devices().await?;
            if json {
                let rows: Vec<serde_json::Value> = devices
                    .iter()
                    .map(|d| {
                        serde_json::json!({"id": d.id, "name": d.name, "created_at": d.created_at,
                            "last_seen_at": d.last_seen_at, "current": d.current})
                    })
                    .collect();
                print_json(&serde_json::Value::Array(rows));
            } else {
                for d in devices {
                    let mark = if d.current { "*" } else { " " };
                    println!("{mark} {} {} (added {})", d.id, d.name, d.created_at);
                }
            }
            ok
        }
        Command::RevokeDevice { id } => {
            sdk.revoke_device(id).await?;
            println!("revoked");
            ok
        }
        Command::Profiles { json } => {
            let profiles = sdk.profiles()?;
            if json {
                print_json(
                    &serde_json::to_value(&profiles)
                        .map_err(|e| Failure::Runtime(e.to_string()))?,
                );
            } else {
                for p in profiles {
                    let acting = if p.acting_as_proxy {
                        " (acting for)"
                    } else {
                        ""
                    };
                    println!(
                        "{} {} {} — {}{acting}, {}",
                        p.patient_id, p.given_name, p.family_name, p.relationship, p.practice_name
                    );
                }
            }
            ok
        }
        Command::Sync { watch } => {
            let report = sdk.sync_now().await?;
            let refused = print_report(&report);
            if watch {
                sdk.start_live()?;
                eprintln!("live until Ctrl-C");
                let _ = tokio::signal::ctrl_c().await;
                sdk.stop_live();
            }
            Ok(if refused {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            })
        }
        Command::Show {
            section,
            patient: who,
            json,
        } => {
            let Some(section) = Section::parse(&section) else {
                return Err(Failure::Usage(format!(
                    "unknown section {section:?}: profile, record, results, documents, \
                     appointments, medications or messages"
                )));
            };
            let who = patient(&who)?;
            let hidden = sdk.personal(who.clone())?.hidden;
            let items: Vec<Item> = sdk
                .items(who, section)?
                .into_iter()
                .filter(|i| !hidden.contains(&i.id))
                .collect();
            print_items(&items, json, section);
            ok
        }
        Command::Slots { patient: who, json } => {
            let items = sdk.slots(patient(&who)?).await?;
            print_items(&items, json, Section::Appointments);
            ok
        }
        Command::Book {
            slot_id,
            reason,
            patient: who,
        } => queued(sdk.book(patient(&who)?, slot_id, reason)?),
        Command::Cancel {
            appointment_id,
            reason,
            patient: who,
        } => queued(sdk.cancel(patient(&who)?, appointment_id, reason)?),
        Command::Order {
            course_ids,
            note,
            patient: who,
        } => queued(sdk.order(patient(&who)?, course_ids, note)?),
        Command::Message {
            thread,
            subject,
            body,
            patient: who,
        } => queued(sdk.send_message(patient(&who)?, thread, subject, body)?),
        Command::Note {
            item_id,
            text,
            patient: who,
        } => {
            sdk.set_note(patient(&who)?, item_id, text)?;
            println!("noted; it syncs to the account's devices at the next sync");
            ok
        }
        Command::Hide {
            item_id,
            patient: who,
        } => {
            sdk.hide(patient(&who)?, item_id)?;
            println!("hidden on this account's devices");
            ok
        }
        Command::Read {
            item_id,
            patient: who,
        } => {
            sdk.mark_read(patient(&who)?, item_id)?;
            println!("marked read");
            ok
        }
        Command::Pending { json } => {
            let pending = sdk.pending_intents()?;
            if json {
                let rows: Vec<serde_json::Value> = pending
                    .iter()
                    .map(|p| {
                        serde_json::json!({"key": p.key, "patient_id": p.patient_id,
                            "action": p.action, "queued_at": p.queued_at})
                    })
                    .collect();
                print_json(&serde_json::Value::Array(rows));
            } else {
                for p in pending {
                    println!(
                        "{} {} for {} (queued {})",
                        p.key, p.action, p.patient_id, p.queued_at
                    );
                }
            }
            ok
        }
    }
}

fn queued(key: String) -> Outcome {
    println!("queued {key}; it goes out at the next sync");
    Ok(ExitCode::SUCCESS)
}

/// Prints what a sync did; whether an intent was refused.
fn print_report(report: &SyncReport) -> bool {
    println!(
        "synced in {} round(s): {} document(s) changed, {} destroyed",
        report.rounds,
        report.changed.len(),
        report.destroyed.len()
    );
    let mut refused = false;
    for result in &report.settled {
        refused |= !result.accepted;
        println!("{}", settled_line(result));
    }
    refused
}

fn print_json(value: &serde_json::Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).unwrap_or_default()
    );
}

/// The fields a line shows for a section, in order.
fn headline(section: Section) -> &'static [&'static str] {
    match section {
        Section::Profile => &["given_name", "family_name", "relationship", "practice_name"],
        Section::Record => &["effective_date", "section", "term"],
        Section::Results => &[
            "effective_date",
            "test_name",
            "value",
            "unit",
            "abnormal_flag",
        ],
        Section::Documents => &["effective_date", "document_type", "title"],
        Section::Appointments => &["starts_at", "status", "clinician_name", "location"],
        Section::Medications => &["kind", "medication", "dosage", "status"],
        Section::Messages => &["kind", "subject", "sender", "body"],
    }
}

fn print_items(items: &[Item], json: bool, section: Section) {
    if json {
        print_json(&serde_json::Value::Array(
            items.iter().map(Item::to_json).collect(),
        ));
        return;
    }
    for item in items {
        let fields: Vec<String> = headline(section)
            .iter()
            .filter_map(|name| item.fields.get(*name))
            .map(|value| match value.to_json() {
                serde_json::Value::String(s) => s,
                serde_json::Value::Null => "-".to_owned(),
                other => other.to_string(),
            })
            .collect();
        println!("{} {}", item.id, fields.join(" · "));
    }
}
