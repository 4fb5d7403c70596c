//! Streaming CMS encryption (RFC 5652 EnvelopedData, RFC 5083
//! AuthEnvelopedData for GCM): the content is read, encrypted and written
//! out as base64 in one pass, so the clear content, the ciphertext and its
//! base64 are never all in memory at once.
//!
//! The openssl crate's `CmsContentInfo::encrypt` + `to_der` writes the
//! ciphertext into a growing memory BIO, then copies it out as DER, and the
//! base64 is made from that copy: for a 50 MiB attachment, peak memory was
//! 3.94 times the file (BENCHMARKS.md). Here OpenSSL reads the content from
//! a BIO over the caller's buffer, whose pages are handed back to the
//! kernel as they are consumed, and writes the DER into a BIO that
//! base64-encodes it straight into the result.
//!
//! This is the only unsafe code besides `ffi.rs`: OpenSSL's streaming
//! encoder (`CMS_STREAM` with `i2d_CMS_bio_stream`), custom BIOs, per
//! recipient key parameters (the ECDH KDF) and a signer's own signed
//! attributes (SMIMECapabilities, sMIMEEncryptionKeyPreference,
//! signingCertificateV2) have no safe wrapper in the openssl crate.

use std::ffi::{c_char, c_int, c_long, c_uint, c_void};
use std::ptr;

use foreign_types::{ForeignType, ForeignTypeRef};
use once_cell::sync::Lazy;
use openssl::cms::CmsContentInfo;
use openssl::error::ErrorStack;
use openssl::stack::Stack;
use openssl::symm::Cipher;
use openssl::x509::X509;
use openssl_sys as ffi;

unsafe extern "C" {
    /// `int i2d_CMS_bio_stream(BIO *out, CMS_ContentInfo *cms, BIO *in, int flags)`
    /// (libcrypto, not declared by openssl-sys).
    fn i2d_CMS_bio_stream(
        out: *mut ffi::BIO,
        cms: *mut ffi::CMS_ContentInfo,
        input: *mut ffi::BIO,
        flags: c_int,
    ) -> c_int;
    /// `int BIO_get_new_index(void)` (OpenSSL 1.1.0+, not in openssl-sys).
    fn BIO_get_new_index() -> c_int;
    // The rest are libcrypto functions of OpenSSL 3.0 that openssl-sys does
    // not declare; `*mut c_void` stands for CMS_SignerInfo,
    // CMS_RecipientInfo, STACK_OF(X509_ALGOR) and ESS_SIGNING_CERT_V2.
    fn CMS_add1_signer(
        cms: *mut ffi::CMS_ContentInfo,
        signer: *mut ffi::X509,
        pk: *mut ffi::EVP_PKEY,
        md: *const ffi::EVP_MD,
        flags: c_uint,
    ) -> *mut c_void;
    fn CMS_final(
        cms: *mut ffi::CMS_ContentInfo,
        data: *mut ffi::BIO,
        dcont: *mut ffi::BIO,
        flags: c_uint,
    ) -> c_int;
    fn CMS_add_simple_smimecap(algs: *mut *mut c_void, algnid: c_int, keysize: c_int) -> c_int;
    fn CMS_add_smimecap(si: *mut c_void, algs: *mut c_void) -> c_int;
    fn CMS_signed_add1_attr_by_NID(
        si: *mut c_void,
        nid: c_int,
        kind: c_int,
        bytes: *const c_void,
        len: c_int,
    ) -> c_int;
    fn X509_ALGOR_free(a: *mut c_void);
    fn OSSL_ESS_signing_cert_v2_new_init(
        md: *const ffi::EVP_MD,
        signcert: *const ffi::X509,
        certs: *const c_void,
        set_issuer_serial: c_int,
    ) -> *mut c_void;
    fn i2d_ESS_SIGNING_CERT_V2(a: *const c_void, out: *mut *mut u8) -> c_int;
    fn ESS_SIGNING_CERT_V2_free(a: *mut c_void);
    fn CMS_add1_recipient_cert(
        cms: *mut ffi::CMS_ContentInfo,
        recip: *mut ffi::X509,
        flags: c_uint,
    ) -> *mut c_void;
    fn CMS_RecipientInfo_get0_pkey_ctx(ri: *mut c_void) -> *mut ffi::EVP_PKEY_CTX;
    fn EVP_PKEY_CTX_ctrl_str(
        ctx: *mut ffi::EVP_PKEY_CTX,
        kind: *const c_char,
        value: *const c_char,
    ) -> c_int;
}

/// Adds `cert` as a recipient. An EC key gets the ECDH key agreement with
/// the SHA-256 KDF (dhSinglePass-stdDH-sha256kdf-scheme, RFC 5753 §8's
/// mandatory one) instead of OpenSSL's SHA-1 default; RSA keys get key
/// transport as before.
fn add_recipient(cms: &CmsContentInfo, cert: &X509, flags: c_uint) -> Result<(), ErrorStack> {
    let ec = cert.public_key()?.id() == openssl::pkey::Id::EC;
    let flags = if ec {
        flags | ffi::CMS_KEY_PARAM
    } else {
        flags
    };
    // SAFETY: valid CMS and certificate; the RecipientInfo and its key
    // context belong to the CMS, which outlives these calls.
    unsafe {
        let ri = CMS_add1_recipient_cert(cms.as_ptr(), cert.as_ptr(), flags);
        if ri.is_null() {
            return Err(ErrorStack::get());
        }
        if ec {
            let pctx = CMS_RecipientInfo_get0_pkey_ctx(ri);
            if pctx.is_null()
                || EVP_PKEY_CTX_ctrl_str(pctx, c"ecdh_kdf_md".as_ptr(), c"sha256".as_ptr()) <= 0
            {
                return Err(ErrorStack::get());
            }
        }
    }
    Ok(())
}

/// V_ASN1_SEQUENCE (openssl/asn1.h): an attribute value given as its whole
/// DER encoding, which OpenSSL writes as it is.
const V_ASN1_SEQUENCE: c_int = 16;

/// The content ciphers lnccmd encrypts with, strongest first, as announced
/// in SMIMECapabilities (RFC 8551 §2.5.2, §2.7: AES-256-GCM and AES-128-GCM
/// are MUST, CBC for older clients; no RC2, DES or 3DES, which OpenSSL's
/// default list has).
const CAPABILITIES: [openssl::nid::Nid; 4] = [
    openssl::nid::Nid::AES_256_GCM,
    openssl::nid::Nid::AES_128_GCM,
    openssl::nid::Nid::AES_256_CBC,
    openssl::nid::Nid::AES_128_CBC,
];

/// Detached CMS SignedData (DER) over `content` with SHA-256, the chain,
/// and the signed attributes of RFC 8551 §2.5: signingTime (OpenSSL's),
/// SMIMECapabilities (`CAPABILITIES`), sMIMEEncryptionKeyPreference naming
/// the signer's certificate (§2.5.3: replies are encrypted to it), and ESS
/// signingCertificateV2 (RFC 5035) binding the signature to that
/// certificate. `CmsContentInfo::sign` offers none of these choices.
pub fn sign_detached(
    cert: &X509,
    key: &openssl::pkey::PKeyRef<openssl::pkey::Private>,
    chain: &[X509],
    content: &[u8],
) -> Result<Vec<u8>, ErrorStack> {
    let mut certs = Stack::new()?;
    for c in chain {
        certs.push(c.clone())?;
    }
    let flags = ffi::CMS_DETACHED | ffi::CMS_BINARY;
    let pref = encryption_key_preference(cert)?;
    let len = |n: usize| c_int::try_from(n).map_err(|_| ErrorStack::get());
    // SAFETY: every pointer is valid for the calls; the objects made here
    // are freed on every path (CmsContentInfo owns the CMS, `algs` and
    // `ess` are freed below, `data` by its guard).
    unsafe {
        let p = ffi::CMS_sign(
            ptr::null_mut(),
            ptr::null_mut(),
            certs.as_ptr(),
            ptr::null_mut(),
            flags | ffi::CMS_PARTIAL,
        );
        if p.is_null() {
            return Err(ErrorStack::get());
        }
        let cms = CmsContentInfo::from_ptr(p);
        let si = CMS_add1_signer(
            cms.as_ptr(),
            cert.as_ptr(),
            key.as_ptr(),
            ffi::EVP_sha256(),
            flags | ffi::CMS_PARTIAL | ffi::CMS_NOSMIMECAP,
        );
        if si.is_null() {
            return Err(ErrorStack::get());
        }
        let mut algs: *mut c_void = ptr::null_mut();
        let mut ok = CAPABILITIES
            .iter()
            .all(|nid| CMS_add_simple_smimecap(&mut algs, nid.as_raw(), -1) > 0);
        ok = ok && CMS_add_smimecap(si, algs) > 0;
        if !algs.is_null() {
            ffi::OPENSSL_sk_pop_free(algs as *mut ffi::OPENSSL_STACK, Some(X509_ALGOR_free));
        }
        if !ok {
            return Err(ErrorStack::get());
        }
        if CMS_signed_add1_attr_by_NID(
            si,
            openssl::nid::Nid::ID_SMIME_AA_ENCRYPKEYPREF.as_raw(),
            V_ASN1_SEQUENCE,
            pref.as_ptr() as *const c_void,
            len(pref.len())?,
        ) <= 0
        {
            return Err(ErrorStack::get());
        }
        let ess =
            OSSL_ESS_signing_cert_v2_new_init(ffi::EVP_sha256(), cert.as_ptr(), ptr::null(), 1);
        if ess.is_null() {
            return Err(ErrorStack::get());
        }
        let n = i2d_ESS_SIGNING_CERT_V2(ess, ptr::null_mut());
        let mut der = vec![0u8; n.max(0) as usize];
        let mut out = der.as_mut_ptr();
        let written = i2d_ESS_SIGNING_CERT_V2(ess, &mut out);
        ESS_SIGNING_CERT_V2_free(ess);
        let nid = openssl::asn1::Asn1Object::from_str("1.2.840.113549.1.9.16.2.47")?.nid();
        if n <= 0
            || written != n
            || CMS_signed_add1_attr_by_NID(
                si,
                nid.as_raw(),
                V_ASN1_SEQUENCE,
                der.as_ptr() as *const c_void,
                n,
            ) <= 0
        {
            return Err(ErrorStack::get());
        }
        let data = ffi::BIO_new_mem_buf(content.as_ptr() as *const c_void, len(content.len())?);
        if data.is_null() {
            return Err(ErrorStack::get());
        }
        let data = Bio(data);
        if CMS_final(cms.as_ptr(), data.0, ptr::null_mut(), flags) <= 0 {
            return Err(ErrorStack::get());
        }
        drop(data);
        cms.to_der()
    }
}

/// The algorithms a certificate's SMIMECapabilities extension (RFC 4262)
/// announces, as the DER content of their OIDs, in its order; `None` when
/// it has no such extension (or one that does not parse). The openssl
/// crate reads only the extensions it knows.
pub fn certificate_capabilities(cert: &X509) -> Option<Vec<Vec<u8>>> {
    // SAFETY: `cert` is valid; the extension and its data belong to it and
    // are only read while it is borrowed.
    let der = unsafe {
        let loc = ffi::X509_get_ext_by_NID(
            cert.as_ptr(),
            openssl::nid::Nid::SMIMECAPABILITIES.as_raw(),
            -1,
        );
        if loc < 0 {
            return None;
        }
        let ext = ffi::X509_get_ext(cert.as_ptr(), loc);
        if ext.is_null() {
            return None;
        }
        let data = ffi::X509_EXTENSION_get_data(ext) as *const ffi::ASN1_STRING;
        let len = ffi::ASN1_STRING_length(data);
        let ptr = ffi::ASN1_STRING_get0_data(data);
        if ptr.is_null() || len < 0 {
            return None;
        }
        std::slice::from_raw_parts(ptr, len as usize).to_vec()
    };
    // SMIMECapabilities ::= SEQUENCE OF SEQUENCE { capabilityID OID, parameters ANY OPTIONAL }
    let mut pos = 0;
    let Content::Constructed(caps) = parse(&der, &mut pos).ok()?.content else {
        return None;
    };
    let mut out = Vec::new();
    for cap in caps {
        let Content::Constructed(fields) = cap.content else {
            return None;
        };
        match fields.first() {
            Some(Node {
                tag: 0x06,
                content: Content::Primitive(r),
            }) => out.push(der[r.clone()].to_vec()),
            _ => return None,
        }
    }
    Some(out)
}

/// sMIMEEncryptionKeyPreference (RFC 8551 §2.5.3) for `cert`:
/// `[0] IMPLICIT IssuerAndSerialNumber`, DER. Written here: OpenSSL has
/// no encoder for this CHOICE; the Name and serial come from OpenSSL's DER.
fn encryption_key_preference(cert: &X509) -> Result<Vec<u8>, ErrorStack> {
    let issuer = cert.issuer_name().to_der()?;
    let serial = cert.serial_number().to_bn()?.to_vec();
    let mut int = vec![0x02];
    // INTEGER: a leading zero keeps a high first bit positive.
    let pad = serial.first().is_none_or(|&b| b & 0x80 != 0);
    int.extend(length_octets(serial.len() + pad as usize));
    if pad {
        int.push(0);
    }
    int.extend(&serial);
    let mut out = vec![0xa0];
    out.extend(length_octets(issuer.len() + int.len()));
    out.extend(issuer);
    out.extend(int);
    Ok(out)
}

/// BIO_TYPE_SOURCE_SINK (openssl/bio.h).
const BIO_TYPE_SOURCE_SINK: c_int = 0x0400;

/// Base64 line length (RFC 2045: at most 76), 57 bytes of input per line.
const LINE: usize = 76;
const LINE_INPUT: usize = 57;

/// Consumed content is handed back to the kernel in steps of this size.
const RELEASE_STEP: usize = 4 << 20;

/// The content, read front to back. Pages wholly before the read position
/// are released with `madvise(MADV_DONTNEED)`: the buffer keeps its
/// allocation (freed normally when dropped) but no longer its memory. The
/// released bytes read as zeros afterwards, and nothing reads them again.
struct Source {
    data: Vec<u8>,
    pos: usize,
    /// Offset (from the start of the data) up to which pages are released;
    /// page-aligned in memory once set.
    released: usize,
}

impl Source {
    fn release_consumed(&mut self) {
        if self.pos - self.released < RELEASE_STEP {
            return;
        }
        let page = page_size();
        let base = self.data.as_ptr() as usize;
        // Only whole pages inside the buffer: the first partial page (an
        // allocator's header may share it) and the one being read stay.
        let start = (base + self.released).next_multiple_of(page);
        let end = (base + self.pos) / page * page;
        if end > start {
            // SAFETY: [start, end) lies inside `data`'s allocation, which
            // this struct owns; the bytes there were read and are never read
            // again. MADV_DONTNEED on private anonymous memory (malloc's)
            // only drops the pages; a later access would see zeros.
            unsafe {
                libc::madvise(start as *mut c_void, end - start, libc::MADV_DONTNEED);
            }
            self.released = end - base;
        }
    }
}

fn page_size() -> usize {
    static PAGE: Lazy<usize> = Lazy::new(|| {
        // SAFETY: sysconf has no preconditions.
        let p = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        if p > 0 { p as usize } else { 4096 }
    });
    *PAGE
}

/// Base64 of everything written, lines of 76 characters separated by CRLF
/// (lettre's format for a base64 body: no CRLF after the last line).
struct Sink {
    out: Vec<u8>,
    /// Input not yet encoded: fewer than 57 bytes between writes.
    carry: Vec<u8>,
}

impl Sink {
    fn with_capacity_for(input: usize) -> Sink {
        let lines = input / LINE_INPUT + 1;
        Sink {
            out: Vec::with_capacity(lines * (LINE + 2)),
            carry: Vec::with_capacity(LINE_INPUT),
        }
    }

    fn push_lines(&mut self, whole_lines: &[u8]) {
        for line in whole_lines.chunks(LINE_INPUT) {
            if !self.out.is_empty() {
                self.out.extend_from_slice(b"\r\n");
            }
            self.out
                .extend_from_slice(openssl::base64::encode_block(line).as_bytes());
        }
    }

    fn write(&mut self, mut data: &[u8]) {
        if !self.carry.is_empty() {
            let take = (LINE_INPUT - self.carry.len()).min(data.len());
            self.carry.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.carry.len() < LINE_INPUT {
                return;
            }
            let line = std::mem::take(&mut self.carry);
            self.push_lines(&line);
            self.carry = line;
            self.carry.clear();
        }
        let whole = data.len() / LINE_INPUT * LINE_INPUT;
        self.push_lines(&data[..whole]);
        self.carry.extend_from_slice(&data[whole..]);
    }

    fn finish(mut self) -> Vec<u8> {
        let rest = std::mem::take(&mut self.carry);
        if !rest.is_empty() {
            self.push_lines(&rest);
        }
        self.out
    }
}

unsafe extern "C" fn source_read(bio: *mut ffi::BIO, buf: *mut c_char, len: c_int) -> c_int {
    // SAFETY: the BIO's data is the `Source` set in `encrypt`, alive for
    // the whole i2d_CMS_bio_stream call; OpenSSL gives `len` writable bytes.
    let src = unsafe { &mut *(ffi::BIO_get_data(bio) as *mut Source) };
    let n = (len.max(0) as usize).min(src.data.len() - src.pos);
    unsafe { ptr::copy_nonoverlapping(src.data.as_ptr().add(src.pos), buf as *mut u8, n) };
    src.pos += n;
    src.release_consumed();
    n as c_int
}

unsafe extern "C" fn sink_write(bio: *mut ffi::BIO, buf: *const c_char, len: c_int) -> c_int {
    // SAFETY: the BIO's data is the `Vec<u8>` set in `encrypt`; OpenSSL
    // gives `len` readable bytes.
    let sink = unsafe { &mut *(ffi::BIO_get_data(bio) as *mut Vec<u8>) };
    let data = unsafe { std::slice::from_raw_parts(buf as *const u8, len.max(0) as usize) };
    sink.extend_from_slice(data);
    len
}

/// One BER element of OpenSSL's streamed output: where its content is and,
/// for a constructed one, its elements.
struct Node {
    /// The identifier octet (CMS has no tag numbers above 30).
    tag: u8,
    /// Primitive: the content's range in the BER. Constructed: the elements.
    content: Content,
}

enum Content {
    Primitive(std::ops::Range<usize>),
    Constructed(Vec<Node>),
}

fn ber_error(what: &str) -> ErrorStack {
    // An ErrorStack cannot be made from a message; OpenSSL's queue is
    // empty here, and the caller adds what failed. Reaching this is a bug:
    // the input is OpenSSL's own output.
    let _ = what;
    ErrorStack::get()
}

/// Parses one element at `*pos`; indefinite lengths end at their EOC.
fn parse(ber: &[u8], pos: &mut usize) -> Result<Node, ErrorStack> {
    let tag = *ber.get(*pos).ok_or_else(|| ber_error("truncated"))?;
    if tag & 0x1f == 0x1f {
        return Err(ber_error("high tag number"));
    }
    let first = *ber.get(*pos + 1).ok_or_else(|| ber_error("truncated"))?;
    *pos += 2;
    let len = match first {
        0x80 => None,
        l if l < 0x80 => Some(l as usize),
        l => {
            let n = (l & 0x7f) as usize;
            let bytes = ber
                .get(*pos..*pos + n)
                .ok_or_else(|| ber_error("truncated"))?;
            *pos += n;
            Some(bytes.iter().fold(0usize, |a, &b| (a << 8) | b as usize))
        }
    };
    if tag & 0x20 == 0 {
        let len = len.ok_or_else(|| ber_error("indefinite primitive"))?;
        let range = *pos..*pos + len;
        if range.end > ber.len() {
            return Err(ber_error("truncated"));
        }
        *pos = range.end;
        return Ok(Node {
            tag,
            content: Content::Primitive(range),
        });
    }
    let mut children = Vec::new();
    match len {
        Some(len) => {
            let end = *pos + len;
            while *pos < end {
                children.push(parse(ber, pos)?);
            }
        }
        None => loop {
            if ber.get(*pos..*pos + 2) == Some(&[0, 0][..]) {
                *pos += 2;
                break;
            }
            children.push(parse(ber, pos)?);
        },
    }
    Ok(Node {
        tag,
        content: Content::Constructed(children),
    })
}

/// DER (X.690 §10) of OpenSSL's streamed BER: definite lengths, and the
/// encryptedContent `[0] IMPLICIT OCTET STRING`, which the stream writes
/// as constructed chunks, as one primitive string. The rest of the
/// structure OpenSSL already wrote in DER (sorted SETs, minimal integers).
fn to_der(mut node: Node) -> Node {
    if let Content::Constructed(children) = &mut node.content {
        // EncryptedContentInfo: SEQUENCE { OID, AlgorithmIdentifier, [0] ... }.
        let is_eci = node.tag == 0x30
            && children.len() == 3
            && children[0].tag == 0x06
            && children[1].tag == 0x30
            && children[2].tag == 0xa0;
        let kids = std::mem::take(children);
        let mut kids: Vec<Node> = kids.into_iter().map(to_der).collect();
        if is_eci {
            let encrypted = kids.pop().expect("three elements");
            kids.push(flatten(encrypted, 0x80));
        }
        node.content = Content::Constructed(kids);
    }
    node
}

/// A constructed string as one primitive `tag` over its chunks' ranges:
/// kept as ranges, copied only when written.
fn flatten(node: Node, tag: u8) -> Node {
    let mut ranges = Vec::new();
    collect(node, &mut ranges);
    Node {
        tag,
        content: Content::Constructed(
            ranges
                .into_iter()
                .map(|r| Node {
                    tag: 0,
                    content: Content::Primitive(r),
                })
                .collect(),
        ),
    }
}

fn collect(node: Node, out: &mut Vec<std::ops::Range<usize>>) {
    match node.content {
        Content::Primitive(r) => out.push(r),
        Content::Constructed(c) => c.into_iter().for_each(|n| collect(n, out)),
    }
}

impl Node {
    /// A primitive written from several ranges (`flatten`): a primitive
    /// tag (bit 0x20 clear) over a list of ranges.
    fn is_chunked_primitive(&self) -> bool {
        self.tag & 0x20 == 0 && matches!(self.content, Content::Constructed(_))
    }

    /// Length of the content in DER.
    fn content_len(&self) -> usize {
        match &self.content {
            Content::Primitive(r) => r.len(),
            Content::Constructed(c) if self.is_chunked_primitive() => {
                c.iter().map(Node::content_len).sum()
            }
            Content::Constructed(c) => c.iter().map(Node::der_len).sum(),
        }
    }

    fn der_len(&self) -> usize {
        let n = self.content_len();
        1 + length_octets(n).len() + n
    }

    /// Writes the DER, taking the content bytes from `ber` (front to back,
    /// its consumed pages released).
    fn write(&self, ber: &mut Source, out: &mut Sink) {
        out.write(&[self.tag]);
        out.write(&length_octets(self.content_len()));
        match &self.content {
            Content::Primitive(r) => {
                out.write(&ber.data[r.clone()]);
                ber.pos = r.end;
                ber.release_consumed();
            }
            Content::Constructed(c) if self.is_chunked_primitive() => {
                for chunk in c {
                    if let Content::Primitive(r) = &chunk.content {
                        out.write(&ber.data[r.clone()]);
                        ber.pos = r.end;
                        ber.release_consumed();
                    }
                }
            }
            Content::Constructed(c) => c.iter().for_each(|n| n.write(ber, out)),
        }
    }
}

/// DER length octets: short form below 128, else the long form, minimal.
fn length_octets(n: usize) -> Vec<u8> {
    if n < 0x80 {
        return vec![n as u8];
    }
    let bytes = n.to_be_bytes();
    let skip = bytes.iter().take_while(|&&b| b == 0).count();
    let mut out = vec![0x80 | (bytes.len() - skip) as u8];
    out.extend_from_slice(&bytes[skip..]);
    out
}

/// BIO_CTRL_FLUSH succeeds (nothing is buffered); other controls are not
/// supported, as for any plain source or sink.
unsafe extern "C" fn ctrl(
    _bio: *mut ffi::BIO,
    cmd: c_int,
    _num: c_long,
    _ptr: *mut c_void,
) -> c_long {
    (cmd == ffi::BIO_CTRL_FLUSH) as c_long
}

unsafe extern "C" fn create(bio: *mut ffi::BIO) -> c_int {
    // SAFETY: a new BIO of this method; its data is set before use.
    unsafe {
        ffi::BIO_set_data(bio, ptr::null_mut());
        ffi::BIO_set_init(bio, 1);
    }
    1
}

/// A BIO_METHOD made once per process and never freed (as OpenSSL's own).
struct Method(*mut ffi::BIO_METHOD);
// SAFETY: a BIO_METHOD is read-only after it is set up here.
unsafe impl Send for Method {}
unsafe impl Sync for Method {}

fn method(name: &'static std::ffi::CStr, source: bool) -> Method {
    // SAFETY: plain OpenSSL calls on a method this function owns; the
    // callbacks have the signatures OpenSSL expects.
    unsafe {
        let index = BIO_get_new_index();
        assert!(index > 0, "BIO_get_new_index failed");
        let m = ffi::BIO_meth_new(BIO_TYPE_SOURCE_SINK | index, name.as_ptr());
        assert!(!m.is_null(), "BIO_meth_new failed");
        if source {
            ffi::BIO_meth_set_read__fixed_rust(m, Some(source_read));
        } else {
            ffi::BIO_meth_set_write__fixed_rust(m, Some(sink_write));
        }
        ffi::BIO_meth_set_ctrl__fixed_rust(m, Some(ctrl));
        ffi::BIO_meth_set_create__fixed_rust(m, Some(create));
        Method(m)
    }
}

static SOURCE: Lazy<Method> = Lazy::new(|| method(c"lnccmd content", true));
static SINK: Lazy<Method> = Lazy::new(|| method(c"lnccmd base64", false));

/// A BIO of `method` over `data`, freed on drop.
struct Bio(*mut ffi::BIO);

impl Bio {
    fn new<T>(method: &Method, data: &mut T) -> Result<Bio, ErrorStack> {
        // SAFETY: `method` is a valid BIO_METHOD; `data` outlives the BIO
        // (both are locals of `encrypt`, the BIO dropped first).
        unsafe {
            let b = ffi::BIO_new(method.0);
            if b.is_null() {
                return Err(ErrorStack::get());
            }
            ffi::BIO_set_data(b, data as *mut T as *mut c_void);
            Ok(Bio(b))
        }
    }
}

impl Drop for Bio {
    fn drop(&mut self) {
        // SAFETY: the BIO was made by BIO_new and is freed once.
        unsafe { ffi::BIO_free_all(self.0) };
    }
}

/// CMS EnvelopedData (AuthEnvelopedData with GCM) of `content` for every
/// certificate in `recipients`, as base64 lines (76 characters, CRLF
/// between lines). `content` is consumed: its memory is released as it is
/// encrypted.
pub fn encrypt_base64(
    recipients: &[X509],
    content: Vec<u8>,
    cipher: Cipher,
) -> Result<Vec<u8>, ErrorStack> {
    let none: Stack<X509> = Stack::new()?;
    let flags = ffi::CMS_BINARY | ffi::CMS_STREAM;
    // SAFETY: valid stack and cipher; with CMS_STREAM and no data,
    // CMS_encrypt only prepares the structure (the data comes below).
    let cms = unsafe {
        let p = ffi::CMS_encrypt(none.as_ptr(), ptr::null_mut(), cipher.as_ptr(), flags);
        if p.is_null() {
            return Err(ErrorStack::get());
        }
        CmsContentInfo::from_ptr(p)
    };
    for cert in recipients {
        add_recipient(&cms, cert, flags)?;
    }
    // The BER is at most the content, a block of padding (or the GCM tag),
    // the recipients' keys and certificate ids, and the chunks' headers.
    let mut ber =
        Vec::with_capacity(content.len() + content.len() / 512 + 1024 * (recipients.len() + 1));
    let mut source = Source {
        data: content,
        pos: 0,
        released: 0,
    };
    {
        let input = Bio::new(&SOURCE, &mut source)?;
        let output = Bio::new(&SINK, &mut ber)?;
        // SAFETY: all four pointers are valid for the call; the BIOs' data
        // (`source`, `ber`) are alive and not otherwise used meanwhile.
        let ok = unsafe { i2d_CMS_bio_stream(output.0, cms.as_ptr(), input.0, flags as c_int) };
        if ok <= 0 {
            return Err(ErrorStack::get());
        }
    }
    drop(source);
    // OpenSSL's streaming encoder writes BER with indefinite lengths, which
    // DER-only readers (pyca/cryptography) refuse (issue #15 item 4). It
    // is made DER in a second pass over the BER, whose pages are released
    // as they are written out as base64: the peak stays the base64 of the
    // whole plus a few MiB, as before (BENCHMARKS.md).
    let mut pos = 0;
    let tree = to_der(parse(&ber, &mut pos)?);
    let mut sink = Sink::with_capacity_for(tree.der_len());
    let mut ber = Source {
        data: ber,
        pos: 0,
        released: 0,
    };
    tree.write(&mut ber, &mut sink);
    Ok(sink.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sink_wraps_like_lettre_whatever_the_write_sizes() {
        let data: Vec<u8> = (0..10_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let expected = lettre::message::Body::new_with_encoding(
            data.clone(),
            lettre::message::header::ContentTransferEncoding::Base64,
        )
        .unwrap()
        .into_vec();
        for step in [1, 2, 56, 57, 58, 100, 4096, 10_000] {
            let mut sink = Sink::with_capacity_for(data.len());
            for chunk in data.chunks(step) {
                sink.write(chunk);
            }
            assert_eq!(sink.finish(), expected, "writes of {step} bytes");
        }
        assert!(Sink::with_capacity_for(0).finish().is_empty());
    }

    #[test]
    fn source_releases_only_whole_consumed_pages() {
        let len = 3 * RELEASE_STEP + 12_345;
        let mut src = Source {
            data: vec![0xA5; len],
            pos: 0,
            released: 0,
        };
        while src.pos < len {
            src.pos = (src.pos + 100_000).min(len);
            src.release_consumed();
            let base = src.data.as_ptr() as usize;
            assert!(src.released <= src.pos);
            assert!(src.released == 0 || (base + src.released).is_multiple_of(page_size()));
            // What is not yet read is intact.
            assert!(src.data[src.pos..].iter().all(|&b| b == 0xA5));
        }
        assert!(src.released > 2 * RELEASE_STEP);
    }
}
