//! The exported face of the SDK: one object, [`GpOnline`], whose methods the app calls from
//! Kotlin, Swift or Python through uniffi (and Rust callers directly). Network methods are
//! async and run on a tokio runtime the SDK owns; reads are synchronous and come from the
//! local store, so they work offline. Writes are queued as intents (or edits of the personal
//! document) and go out at the next sync or at once in live mode.

use crate::api::Api;
use crate::config::SdkConfig;
use crate::engine::{self, LETTER_PREFIX, Local};
use crate::error::{Result, SdkError};
use crate::listener::SdkListener;
use crate::model::{
    DeviceInfo, Draft, Item, Letter, PasskeyCeremony, PendingIntent, PersonalData, Profile,
    Section, SyncReport,
};
use crate::shared::Shared;
use crate::store::Store;
use crate::{passkey, store};
use reqwest::Method;
use serde_json::json;
use std::future::Future;
use std::path::Path;
use std::sync::{Arc, Mutex};
use sync_protocol::personal;
use sync_protocol::{DocumentId, Intent, IntentAction};
use uuid::Uuid;

/// The SDK: one per store folder.
#[derive(uniffi::Object)]
pub struct GpOnline {
    runtime: Option<tokio::runtime::Runtime>,
    shared: Arc<Shared>,
    live: Mutex<Option<Arc<tokio::sync::Notify>>>,
}

impl std::fmt::Debug for GpOnline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GpOnline").finish_non_exhaustive()
    }
}

impl Drop for GpOnline {
    fn drop(&mut self) {
        if let Ok(mut live) = self.live.lock()
            && let Some(stop) = live.take()
        {
            stop.notify_one();
        }
        // Dropping a runtime may happen inside another runtime (a Rust caller's): shut it
        // down without blocking.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

fn uuid(text: &str, what: &str) -> Result<Uuid> {
    Uuid::parse_str(text).map_err(|_| SdkError::other(format!("{what} is not an id")))
}

/// The device's time, for when an intent was queued and when an item was read. The server's
/// `Clock` does not exist here: the phone's clock is the only one the SDK has.
#[allow(clippy::disallowed_methods)]
fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

impl GpOnline {
    /// Opens the SDK with a fault hook on its store (for tests of crashes at every write).
    pub fn open_with_faults(
        config: SdkConfig,
        hook: Option<store::files::FaultHook>,
    ) -> Result<Arc<Self>> {
        let host_key = config.host_key()?;
        let api = Api::new(&config)?;
        let store = Store::open_with_faults(Path::new(&config.store_dir), &host_key, hook)?;
        let local = Local::open(store)?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("gp-online-sdk")
            .enable_all()
            .build()
            .map_err(|_| SdkError::other("starting the SDK's runtime"))?;
        Ok(Arc::new(Self {
            runtime: Some(runtime),
            shared: Arc::new(Shared::new(config, api, local)),
            live: Mutex::new(None),
        }))
    }

    /// Runs `work` on the SDK's runtime and waits for it.
    async fn run<T, F>(&self, work: impl FnOnce(Arc<Shared>) -> F) -> Result<T>
    where
        T: Send + 'static,
        F: Future<Output = Result<T>> + Send + 'static,
    {
        let runtime = self
            .runtime
            .as_ref()
            .ok_or_else(|| SdkError::other("the SDK is closed"))?;
        runtime
            .spawn(work(self.shared.clone()))
            .await
            .map_err(|_| SdkError::other("the SDK's task failed"))?
    }

    fn queue(&self, patient_id: &str, action: IntentAction) -> Result<String> {
        let patient_id = uuid(patient_id, "patient_id")?;
        let key = Uuid::new_v4().to_string();
        {
            let mut local = self.shared.local()?;
            let local = &mut *local;
            if local.session.is_none() {
                return Err(SdkError::Unauthorised);
            }
            local.outbox.queue(
                &mut local.store,
                Intent {
                    key: key.clone(),
                    patient_id,
                    action,
                },
                now(),
            )?;
        }
        self.shared.poke.notify_one();
        Ok(key)
    }

    fn edit_personal(
        &self,
        patient_id: &str,
        edit: impl FnOnce(&mut sync_protocol::automerge::AutoCommit) -> Result<(), personal::WriteError>,
    ) -> Result<()> {
        let patient = uuid(patient_id, "patient_id")?;
        self.shared.local()?.edit_personal(patient, edit)?;
        self.shared.poke.notify_one();
        Ok(())
    }
}

#[uniffi::export]
impl GpOnline {
    /// Opens (or creates) the store in `config.store_dir` with the host's key material.
    #[uniffi::constructor]
    pub fn new(config: SdkConfig) -> Result<Arc<Self>> {
        Self::open_with_faults(config, None)
    }

    /// Sets the listener (or removes it with `None`).
    pub fn set_listener(&self, listener: Option<Arc<dyn SdkListener>>) {
        self.shared.set_listener(listener);
    }

    /// Whether a session is held.
    pub fn is_signed_in(&self) -> bool {
        self.shared.token().is_ok()
    }

    // ---- passkeys and the session -----------------------------------------------------------

    /// Starts registration with the practice's linkage details; answer with
    /// [`finish_registration`](Self::finish_registration).
    pub async fn begin_registration(
        &self,
        account_id: String,
        linkage_key: String,
        ods_code: String,
        surname: String,
        date_of_birth: String,
    ) -> Result<PasskeyCeremony> {
        self.run(move |shared| async move {
            let body = json!({
                "account_id": account_id, "linkage_key": linkage_key, "ods_code": ods_code,
                "surname": surname, "date_of_birth": date_of_birth,
            });
            let begun = shared
                .api
                .json(
                    Method::POST,
                    "/api/v1/registration/begin",
                    None,
                    Some(&body),
                )
                .await?;
            ceremony(&begun)
        })
        .await
    }

    /// Finishes registration with the authenticator's `RegistrationResponseJSON`: the device
    /// is registered and signed in.
    pub async fn finish_registration(
        &self,
        ceremony_id: String,
        response_json: String,
    ) -> Result<()> {
        self.run(move |shared| async move {
            let body = json!({
                "ceremony_id": ceremony_id,
                "credential": passkey::credential(&response_json, true)?,
                "device_name": shared.config.device_name,
            });
            let tokens = shared
                .api
                .json(
                    Method::POST,
                    "/api/v1/registration/finish",
                    None,
                    Some(&body),
                )
                .await?;
            signed_in(&shared, &tokens).await
        })
        .await
    }

    /// Starts a usernameless sign-in; answer with [`finish_sign_in`](Self::finish_sign_in).
    pub async fn begin_sign_in(&self) -> Result<PasskeyCeremony> {
        self.run(move |shared| async move {
            let begun = shared
                .api
                .json(Method::POST, "/api/v1/login/begin", None, Some(&json!({})))
                .await?;
            ceremony(&begun)
        })
        .await
    }

    /// Finishes sign-in with the authenticator's `AuthenticationResponseJSON`.
    pub async fn finish_sign_in(&self, ceremony_id: String, response_json: String) -> Result<()> {
        self.run(move |shared| async move {
            let body = json!({
                "ceremony_id": ceremony_id,
                "credential": passkey::credential(&response_json, false)?,
            });
            let tokens = shared
                .api
                .json(Method::POST, "/api/v1/login/finish", None, Some(&body))
                .await?;
            signed_in(&shared, &tokens).await
        })
        .await
    }

    /// Signs this device out: the server revokes it (when reachable) and every key and file of
    /// the store is destroyed.
    pub async fn sign_out(&self) -> Result<()> {
        self.stop_live();
        self.run(move |shared| async move {
            let device = shared
                .local()?
                .session
                .as_ref()
                .map(|s| s.device_id.clone());
            if let (Some(device), Ok(token)) = (device, shared.token()) {
                let path = format!("/api/v1/me/devices/{device}");
                // Best effort: the device forgets its session whether or not the server heard.
                let _ = shared
                    .api
                    .json(Method::DELETE, &path, Some(&token), None)
                    .await;
            }
            shared.local()?.wipe()
        })
        .await
    }

    /// The account's devices.
    pub async fn devices(&self) -> Result<Vec<DeviceInfo>> {
        self.run(move |shared| async move {
            let api = &shared.api;
            let listed = shared
                .authed(|token| async move {
                    api.json(Method::GET, "/api/v1/me/devices", Some(&token), None)
                        .await
                })
                .await?;
            Ok(listed
                .as_array()
                .map(|devices| {
                    devices
                        .iter()
                        .map(|d| DeviceInfo {
                            id: d["id"].as_str().unwrap_or_default().to_owned(),
                            name: d["name"].as_str().unwrap_or_default().to_owned(),
                            created_at: d["created_at"].as_str().unwrap_or_default().to_owned(),
                            last_seen_at: d["last_seen_at"].as_str().map(str::to_owned),
                            current: d["current"].as_bool().unwrap_or(false),
                        })
                        .collect()
                })
                .unwrap_or_default())
        })
        .await
    }

    /// Revokes one of the account's devices (its sessions end, its store is wiped when it
    /// next syncs).
    pub async fn revoke_device(&self, device_id: String) -> Result<()> {
        let device = uuid(&device_id, "device_id")?;
        self.run(move |shared| async move {
            let api = &shared.api;
            let path = format!("/api/v1/me/devices/{device}");
            let path = &path;
            shared
                .authed(
                    |token| async move { api.json(Method::DELETE, path, Some(&token), None).await },
                )
                .await?;
            Ok(())
        })
        .await
    }

    // ---- sync ------------------------------------------------------------------------------

    /// Syncs every document the account may follow and sends every queued intent.
    pub async fn sync_now(&self) -> Result<SyncReport> {
        self.run(|shared| async move { engine::exchange::sync_now(&shared).await })
            .await
    }

    /// A push notification woke the app: its payload is content-free, so this syncs.
    pub async fn handle_push(&self, payload: String) -> Result<SyncReport> {
        let _content_free = payload;
        self.sync_now().await
    }

    /// Starts live mode (a WebSocket while the app is in the foreground).
    pub fn start_live(&self) -> Result<()> {
        let runtime = self
            .runtime
            .as_ref()
            .ok_or_else(|| SdkError::other("the SDK is closed"))?;
        let mut live = self
            .live
            .lock()
            .map_err(|_| SdkError::other("the SDK's state is poisoned"))?;
        if live.is_some() {
            return Ok(());
        }
        let stop = Arc::new(tokio::sync::Notify::new());
        runtime.spawn(engine::live::run(self.shared.clone(), stop.clone()));
        *live = Some(stop);
        Ok(())
    }

    /// Stops live mode.
    pub fn stop_live(&self) {
        if let Ok(mut live) = self.live.lock()
            && let Some(stop) = live.take()
        {
            stop.notify_one();
        }
    }

    // ---- reads, from the store -------------------------------------------------------------

    /// The people the account acts for, as last synced.
    pub fn profiles(&self) -> Result<Vec<Profile>> {
        Ok(self.shared.local()?.profiles.clone())
    }

    /// Every item of a section about `patient_id`, from the store.
    pub fn items(&self, patient_id: String, section: Section) -> Result<Vec<Item>> {
        let patient = uuid(&patient_id, "patient_id")?;
        let local = self.shared.local()?;
        let items = local
            .peer
            .items(DocumentId::new(patient, section.wire()))
            .map_err(|_| SdkError::storage("a document does not read"))?;
        Ok(items
            .iter()
            .map(|(id, fields)| Item::from_fields(id, fields))
            .collect())
    }

    /// A result with its earlier values (the same test), newest first.
    pub fn result_history(&self, patient_id: String, result_id: String) -> Result<Vec<Item>> {
        let results = self.items(patient_id, Section::Results)?;
        let Some(code) = results
            .iter()
            .find(|r| r.id == result_id)
            .and_then(|r| r.text("test_code").map(str::to_owned))
        else {
            return Ok(Vec::new());
        };
        let mut same: Vec<Item> = results
            .into_iter()
            .filter(|r| r.text("test_code") == Some(code.as_str()))
            .collect();
        same.sort_by(|a, b| b.text("effective_date").cmp(&a.text("effective_date")));
        Ok(same)
    }

    /// The account's personal document about `patient_id`.
    pub fn personal(&self, patient_id: String) -> Result<PersonalData> {
        let patient = uuid(&patient_id, "patient_id")?;
        let local = self.shared.local()?;
        let Some(doc) = local
            .peer
            .document(DocumentId::new(patient, sync_protocol::Section::Personal))
        else {
            return Ok(PersonalData::default());
        };
        let read =
            personal::read(doc).map_err(|_| SdkError::storage("a document does not read"))?;
        Ok(PersonalData {
            read_markers: read.read_markers.into_iter().collect(),
            notes: read.notes.into_iter().collect(),
            hidden: read.hidden.into_iter().collect(),
            drafts: read
                .drafts
                .into_iter()
                .map(|(id, d)| Draft {
                    id,
                    kind: d.kind,
                    subject: d.subject,
                    body: d.body,
                    about: d.about,
                    updated_at: d.updated_at,
                })
                .collect(),
        })
    }

    /// Intents queued and not yet settled.
    pub fn pending_intents(&self) -> Result<Vec<PendingIntent>> {
        Ok(self.shared.local()?.outbox.pending())
    }

    /// A letter's body: from the store when downloaded before, else downloaded (online) and
    /// kept encrypted.
    pub async fn letter(&self, patient_id: String, document_id: String) -> Result<Letter> {
        let patient = uuid(&patient_id, "patient_id")?;
        let document = uuid(&document_id, "document_id")?;
        let entry = format!("{LETTER_PREFIX}{patient}/{document}");
        if let Some((content_type, content)) = self
            .shared
            .local()?
            .store
            .get_cbor::<(String, serde_bytes::ByteBuf)>(&entry)?
        {
            return Ok(Letter {
                content_type,
                content: content.into_vec(),
            });
        }
        self.run(move |shared| async move {
            let api = &shared.api;
            let path = format!("/api/v1/patients/{patient}/documents/{document}/content");
            let path = &path;
            let (content_type, content) = shared
                .authed(|token| async move { api.bytes(path, &token).await })
                .await?;
            shared.local()?.store.put_cbor(
                &entry,
                &(
                    content_type.clone(),
                    serde_bytes::ByteBuf::from(content.clone()),
                ),
            )?;
            Ok(Letter {
                content_type,
                content,
            })
        })
        .await
    }

    // ---- online lists ----------------------------------------------------------------------

    /// Open slots the person may book (online).
    pub async fn slots(&self, patient_id: String) -> Result<Vec<Item>> {
        let patient = uuid(&patient_id, "patient_id")?;
        self.run(move |shared| async move {
            let api = &shared.api;
            let path = format!("/api/v1/patients/{patient}/slots");
            let path = &path;
            let found = shared
                .authed(
                    |token| async move { api.json(Method::GET, path, Some(&token), None).await },
                )
                .await?;
            Ok(list(&found["slots"]))
        })
        .await
    }

    /// Who has read the record (online; the patient only).
    pub async fn access_log(&self, patient_id: String) -> Result<Vec<Item>> {
        let patient = uuid(&patient_id, "patient_id")?;
        self.run(move |shared| async move {
            let api = &shared.api;
            let path = format!("/api/v1/patients/{patient}/access-log");
            let path = &path;
            let found = shared
                .authed(
                    |token| async move { api.json(Method::GET, path, Some(&token), None).await },
                )
                .await?;
            Ok(list(&found))
        })
        .await
    }

    // ---- writes: intents -------------------------------------------------------------------

    /// Queues booking a slot; returns the intent's key.
    pub fn book(
        &self,
        patient_id: String,
        slot_id: String,
        reason: Option<String>,
    ) -> Result<String> {
        let slot_id = uuid(&slot_id, "slot_id")?;
        self.queue(
            &patient_id,
            IntentAction::BookAppointment { slot_id, reason },
        )
    }

    /// Queues cancelling an appointment.
    pub fn cancel(
        &self,
        patient_id: String,
        appointment_id: String,
        reason: String,
    ) -> Result<String> {
        let appointment_id = uuid(&appointment_id, "appointment_id")?;
        self.queue(
            &patient_id,
            IntentAction::CancelAppointment {
                appointment_id,
                reason,
            },
        )
    }

    /// Queues ordering repeat courses.
    pub fn order(
        &self,
        patient_id: String,
        course_ids: Vec<String>,
        note: Option<String>,
    ) -> Result<String> {
        let course_ids = course_ids
            .iter()
            .map(|id| uuid(id, "course_id"))
            .collect::<Result<Vec<_>>>()?;
        self.queue(&patient_id, IntentAction::OrderRepeat { course_ids, note })
    }

    /// Queues a message (a new thread without `thread_id`).
    pub fn send_message(
        &self,
        patient_id: String,
        thread_id: Option<String>,
        subject: Option<String>,
        body: String,
    ) -> Result<String> {
        let thread_id = thread_id.map(|t| uuid(&t, "thread_id")).transpose()?;
        self.queue(
            &patient_id,
            IntentAction::SendMessage {
                thread_id,
                subject,
                body,
            },
        )
    }

    /// Queues marking a thread read up to `message_id`.
    pub fn mark_message_read(&self, patient_id: String, message_id: String) -> Result<String> {
        let message_id = uuid(&message_id, "message_id")?;
        self.queue(&patient_id, IntentAction::MarkMessageRead { message_id })
    }

    // ---- writes: the personal document ------------------------------------------------------

    /// Sets (or with an empty text, clears) the private note on an item.
    pub fn set_note(&self, patient_id: String, item_id: String, text: String) -> Result<()> {
        self.edit_personal(&patient_id, |doc| {
            if text.is_empty() {
                personal::clear_note(doc, &item_id)
            } else {
                personal::set_note(doc, &item_id, &text)
            }
        })
    }

    /// Hides an item on the account's devices.
    pub fn hide(&self, patient_id: String, item_id: String) -> Result<()> {
        self.edit_personal(&patient_id, |doc| personal::hide(doc, &item_id))
    }

    /// Shows a hidden item again.
    pub fn unhide(&self, patient_id: String, item_id: String) -> Result<()> {
        self.edit_personal(&patient_id, |doc| personal::unhide(doc, &item_id))
    }

    /// Records that an item was read now.
    pub fn mark_read(&self, patient_id: String, item_id: String) -> Result<()> {
        let at = now();
        self.edit_personal(&patient_id, |doc| {
            personal::set_read_marker(doc, &item_id, &at)
        })
    }

    /// Saves a draft.
    pub fn save_draft(&self, patient_id: String, draft: Draft) -> Result<()> {
        let value = personal::Draft {
            kind: draft.kind,
            subject: draft.subject,
            body: draft.body,
            about: draft.about,
            updated_at: draft.updated_at,
        };
        self.edit_personal(&patient_id, |doc| {
            personal::save_draft(doc, &draft.id, &value)
        })
    }

    /// Deletes a draft.
    pub fn delete_draft(&self, patient_id: String, draft_id: String) -> Result<()> {
        self.edit_personal(&patient_id, |doc| personal::delete_draft(doc, &draft_id))
    }
}

/// The ceremony the server started, for the app's authenticator.
fn ceremony(begun: &serde_json::Value) -> Result<PasskeyCeremony> {
    Ok(PasskeyCeremony {
        ceremony_id: begun["ceremony_id"]
            .as_str()
            .ok_or_else(|| SdkError::other("the server sent no ceremony"))?
            .to_owned(),
        options_json: passkey::options_json(&begun["public_key"])?,
    })
}

/// Keeps the tokens of a finished ceremony; a store holding another account's data is wiped
/// first, then the profiles are read.
async fn signed_in(shared: &Shared, tokens: &serde_json::Value) -> Result<()> {
    let device = tokens["device_id"].as_str().map(str::to_owned);
    {
        let mut local = shared.local()?;
        let other_device = local
            .session
            .as_ref()
            .is_some_and(|s| Some(&s.device_id) != device.as_ref());
        if other_device {
            local.wipe()?;
        }
    }
    shared.keep_tokens(tokens)?;
    engine::exchange::refresh_profiles(shared).await?;
    Ok(())
}

/// A JSON array as items.
fn list(value: &serde_json::Value) -> Vec<Item> {
    value
        .as_array()
        .map(|rows| {
            rows.iter()
                .enumerate()
                .map(|(i, row)| Item::from_json(row, &i.to_string()))
                .collect()
        })
        .unwrap_or_default()
}
