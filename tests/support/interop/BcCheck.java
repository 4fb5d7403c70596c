// Bouncy Castle (bcmail/bcpkix, Debian's) + JavaMail reading lnccmd's
// S/MIME as a Java mail client does (tests/interop.rs).
//   java -cp JARS BcCheck.java verify MESSAGE CA.pem
//       verifies every signer of a multipart/signed message against CA.pem
//   java -cp JARS BcCheck.java decrypt MESSAGE CERT.pem KEY.pem OUT
//       decrypts an application/pkcs7-mime message for CERT/KEY into OUT
// Prints one line saying what it found; exits 0 only on success.
import java.io.*;
import java.nio.file.*;
import java.security.*;
import java.security.cert.X509Certificate;
import java.util.*;
import javax.mail.Session;
import javax.mail.internet.*;
import org.bouncycastle.cert.X509CertificateHolder;
import org.bouncycastle.cert.jcajce.JcaX509CertificateConverter;
import org.bouncycastle.cms.*;
import org.bouncycastle.cms.jcajce.*;
import org.bouncycastle.jce.provider.BouncyCastleProvider;
import org.bouncycastle.mail.smime.*;
import org.bouncycastle.openssl.PEMParser;
import org.bouncycastle.openssl.jcajce.JcaPEMKeyConverter;
import org.bouncycastle.asn1.pkcs.PrivateKeyInfo;
import org.bouncycastle.util.Store;

public class BcCheck {
    static Object pem(String file) throws Exception {
        try (PEMParser p = new PEMParser(new FileReader(file))) {
            return p.readObject();
        }
    }

    /** The signed attributes of RFC 8551 §2.5 and RFC 5035 as BC decodes
     *  them: the capabilities in order, and whether the key preference and
     *  signingCertificateV2 name the signer's certificate. */
    static void describeAttributes(SignerInformation si, X509CertificateHolder cert) throws Exception {
        org.bouncycastle.asn1.cms.AttributeTable attrs = si.getSignedAttributes();
        org.bouncycastle.asn1.cms.Attribute caps = attrs.get(
                org.bouncycastle.asn1.pkcs.PKCSObjectIdentifiers.pkcs_9_at_smimeCapabilities);
        StringBuilder list = new StringBuilder();
        if (caps != null) {
            org.bouncycastle.asn1.smime.SMIMECapabilities sc = org.bouncycastle.asn1.smime.SMIMECapabilities
                    .getInstance(caps.getAttrValues().getObjectAt(0));
            for (Object o : sc.getCapabilities(null)) {
                org.bouncycastle.asn1.smime.SMIMECapability c = (org.bouncycastle.asn1.smime.SMIMECapability) o;
                list.append(list.length() > 0 ? "," : "").append(c.getCapabilityID().getId());
            }
        }
        System.out.println("capabilities " + list);
        org.bouncycastle.asn1.cms.Attribute pref = attrs.get(
                org.bouncycastle.asn1.smime.SMIMEAttributes.encrypKeyPref);
        String prefSays = "absent";
        if (pref != null) {
            org.bouncycastle.asn1.ASN1TaggedObject t = org.bouncycastle.asn1.ASN1TaggedObject
                    .getInstance(pref.getAttrValues().getObjectAt(0));
            // [0] IMPLICIT IssuerAndSerialNumber
            org.bouncycastle.asn1.cms.IssuerAndSerialNumber ias = org.bouncycastle.asn1.cms.IssuerAndSerialNumber
                    .getInstance(org.bouncycastle.asn1.ASN1Sequence.getInstance(t, false));
            boolean same = t.getTagNo() == 0 && ias.getName().equals(cert.getIssuer())
                    && ias.getSerialNumber().getValue().equals(cert.getSerialNumber());
            prefSays = same ? "signer" : "other";
        }
        System.out.println("encrypKeyPref " + prefSays);
        org.bouncycastle.asn1.cms.Attribute scv2 = attrs.get(
                org.bouncycastle.asn1.pkcs.PKCSObjectIdentifiers.id_aa_signingCertificateV2);
        String scSays = "absent";
        if (scv2 != null) {
            org.bouncycastle.asn1.ess.SigningCertificateV2 sc = org.bouncycastle.asn1.ess.SigningCertificateV2
                    .getInstance(scv2.getAttrValues().getObjectAt(0));
            org.bouncycastle.asn1.ess.ESSCertIDv2 id = sc.getCerts()[0];
            byte[] hash = MessageDigest.getInstance("SHA-256").digest(cert.getEncoded());
            boolean sha256 = id.getHashAlgorithm().getAlgorithm()
                    .equals(org.bouncycastle.asn1.nist.NISTObjectIdentifiers.id_sha256);
            scSays = sha256 && Arrays.equals(hash, id.getCertHash()) ? "signer" : "other";
        }
        System.out.println("signingCertificateV2 " + scSays);
    }

    public static void main(String[] args) throws Exception {
        Security.addProvider(new BouncyCastleProvider());
        Session session = Session.getDefaultInstance(new Properties());
        MimeMessage msg;
        try (InputStream in = new FileInputStream(args[1])) {
            msg = new MimeMessage(session, in);
        }
        if (args[0].equals("verify")) {
            X509Certificate ca = new JcaX509CertificateConverter().setProvider("BC")
                    .getCertificate((X509CertificateHolder) pem(args[2]));
            SMIMESigned signed = new SMIMESigned((MimeMultipart) msg.getContent());
            Store<X509CertificateHolder> certs = signed.getCertificates();
            int good = 0;
            for (SignerInformation si : signed.getSignerInfos().getSigners()) {
                @SuppressWarnings("unchecked")
                Collection<X509CertificateHolder> match = certs.getMatches(si.getSID());
                X509Certificate cert = new JcaX509CertificateConverter().setProvider("BC")
                        .getCertificate(match.iterator().next());
                cert.verify(ca.getPublicKey());
                cert.checkValidity();
                if (!si.verify(new JcaSimpleSignerInfoVerifierBuilder().setProvider("BC").build(cert))) {
                    System.out.println("BAD signature of " + cert.getSubjectX500Principal());
                    System.exit(1);
                }
                good++;
                System.out.println("GOOD signature of " + cert.getSubjectX500Principal()
                        + " digest " + si.getDigestAlgOID());
                describeAttributes(si, match.iterator().next());
            }
            System.exit(good > 0 ? 0 : 1);
        } else {
            X509Certificate cert = new JcaX509CertificateConverter().setProvider("BC")
                    .getCertificate((X509CertificateHolder) pem(args[2]));
            PrivateKey key = new JcaPEMKeyConverter().setProvider("BC")
                    .getPrivateKey((PrivateKeyInfo) pem(args[3]));
            X509CertificateHolder holder = new X509CertificateHolder(cert.getEncoded());
            byte[] clear = null;
            String ct = msg.getContentType().toLowerCase();
            // bcmail 1.72 has no SMIMEAuthEnveloped: the CMS from the body.
            RecipientInformationStore infos = ct.contains("authenveloped")
                    ? new CMSAuthEnvelopedData(msg.getInputStream()).getRecipientInfos()
                    : new SMIMEEnveloped(msg).getRecipientInfos();
            for (RecipientInformation ri : infos.getRecipients()) {
                if (!ri.getRID().match(holder)) continue;
                boolean agree = ri instanceof KeyAgreeRecipientInformation;
                System.out.println("recipient " + (agree ? "key agreement " : "key transport ")
                        + ri.getKeyEncryptionAlgOID());
                Recipient r = agree
                        ? new JceKeyAgreeEnvelopedRecipient(key).setProvider("BC")
                        : ct.contains("authenveloped")
                                ? new JceKeyTransAuthEnvelopedRecipient(key).setProvider("BC")
                                : new JceKeyTransEnvelopedRecipient(key).setProvider("BC");
                clear = ri.getContent(r);
            }
            if (clear == null) {
                System.out.println("no RecipientInfo for this certificate");
                System.exit(1);
            }
            Files.write(Paths.get(args[4]), clear);
            System.out.println("DECRYPTED " + clear.length + " bytes");
        }
    }
}
