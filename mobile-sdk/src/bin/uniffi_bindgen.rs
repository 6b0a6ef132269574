//! uniffi's bindgen, at the same version as the library's uniffi: generates the Kotlin, Swift
//! and Python bindings from the built library (`generate --library …`).

fn main() {
    uniffi::uniffi_bindgen_main()
}
