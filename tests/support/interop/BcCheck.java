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
            }
            System.exit(good > 0 ? 0 : 1);
        } else {
            X509Certificate cert = new JcaX509CertificateConverter().setProvider("BC")
                    .getCertificate((X509CertificateHolder) pem(args[2]));
            PrivateKey key = new JcaPEMKeyConverter().setProvider("BC")
                    .getPrivateKey((PrivateKeyInfo) pem(args[3]));
            RecipientId rid = new JceKeyTransRecipientId(cert);
            byte[] clear;
            String ct = msg.getContentType().toLowerCase();
            if (ct.contains("authenveloped")) {
                // bcmail 1.72 has no SMIMEAuthEnveloped: the CMS from the body.
                CMSAuthEnvelopedData env = new CMSAuthEnvelopedData(msg.getInputStream());
                clear = env.getRecipientInfos().get(rid)
                        .getContent(new JceKeyTransAuthEnvelopedRecipient(key).setProvider("BC"));
            } else {
                SMIMEEnveloped env = new SMIMEEnveloped(msg);
                clear = env.getRecipientInfos().get(rid)
                        .getContent(new JceKeyTransEnvelopedRecipient(key).setProvider("BC"));
            }
            Files.write(Paths.get(args[4]), clear);
            System.out.println("DECRYPTED " + clear.length + " bytes");
        }
    }
}
