//! A file's bytes → the CSV text inside: zip archives (their one CSV entry, CRC checked), gzip,
//! or plain text; and Binance's `.CHECKSUM` (SHA-256 of the archive) verified when it lies
//! beside the file.

use std::io::Read;

use sha2::{Digest, Sha256};

/// Checks the text of a `.CHECKSUM` file (`<sha256 hex>  <name>`) against the archive's bytes.
pub fn verify_checksum(sidecar: &str, bytes: &[u8]) -> Result<(), String> {
    let expected = sidecar
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    let actual = hex::encode(Sha256::digest(bytes));
    if expected != actual {
        return Err(format!(
            "its SHA-256 is {actual} but its .CHECKSUM says {expected}; download the archive again"
        ));
    }
    Ok(())
}

/// The text of a file: the CSV entry of a zip, a gunzipped `.gz`, or the file itself. An
/// archive is unpacked into `spare`; the buffer the text is not in comes back beside it.
pub fn text(name: &str, bytes: Vec<u8>, mut spare: Vec<u8>) -> Result<(String, Vec<u8>), String> {
    let (raw, unused) = if name.ends_with(".zip") {
        unzip(&bytes, &mut spare)?;
        (spare, bytes)
    } else if name.ends_with(".gz") {
        spare.reserve(bytes.len() * 4);
        flate2::read::MultiGzDecoder::new(bytes.as_slice())
            .read_to_end(&mut spare)
            .map_err(|e| format!("it is not a readable gzip file ({e})"))?;
        (spare, bytes)
    } else {
        (bytes, spare)
    };
    let text = String::from_utf8(raw).map_err(|e| format!("it is not UTF-8 text ({e})"))?;
    Ok((text, unused))
}

fn unzip(bytes: &[u8], out: &mut Vec<u8>) -> Result<(), String> {
    let corrupt = |e: zip::result::ZipError| format!("it is not a readable zip archive ({e})");
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).map_err(corrupt)?;
    let index = (0..archive.len())
        .find(|i| {
            archive
                .name_for_index(*i)
                .is_some_and(|n| n.is_ok_and(|n| n.to_ascii_lowercase().ends_with(".csv")))
        })
        .ok_or("the zip archive holds no .csv file")?;
    let mut entry = archive.by_index(index).map_err(corrupt)?;
    out.reserve(entry.size() as usize);
    entry
        .read_to_end(out)
        .map_err(|e| format!("its zip entry cannot be read ({e}); download the archive again"))?;
    Ok(())
}
