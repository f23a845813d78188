//! Fuzz target: `decode_client` on any text. It never panics; what it
//! accepts encodes and decodes back to the same frame; what it refuses
//! becomes an error frame that a client can decode, echoing only a `ref`
//! within the protocol's length. `decode_client_request`, which the server
//! uses, agrees with `decode_client` and `reference_of` on every text when
//! it speaks protocol 2 (every frame type `decode_client` knows).

#![no_main]

use chat_proto::limits::{MAX_REF_CHARS, PROTOCOL_2};
use chat_proto::{
    ServerFrame, decode_client, decode_client_request, decode_server, encode, reference_of,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let request = decode_client_request(text, PROTOCOL_2);
    assert_eq!(
        request.clone().map(|request| request.frame),
        decode_client(text),
        "decoding with the ref decoded differently"
    );
    if let Ok(request) = &request {
        assert_eq!(request.reference, reference_of(text), "a different ref");
    }
    match decode_client(text) {
        Ok(frame) => {
            let again = decode_client(&encode(&frame)).expect("an encoded frame decodes");
            assert_eq!(again, frame, "the frame changed on a round trip");
        }
        Err(error) => {
            if let Some(reference) = &error.reference {
                assert!(reference.chars().count() <= MAX_REF_CHARS);
            }
            let answer = encode(&error.to_frame());
            match decode_server(&answer).expect("the error frame decodes") {
                ServerFrame::Error { code, .. } => assert_eq!(code, error.code()),
                other => panic!("the answer is not an error: {other:?}"),
            }
        }
    }
});
