package vigiltest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// PKI is a throwaway certificate authority generated at run time into a
// test's temporary directory, for TLS tests that need no server of
// scripts/infra.sh. Every file is PEM.
type PKI struct {
	// Dir holds the files.
	Dir string
	// CAFile is the CA certificate; Pool trusts it.
	CAFile string
	Pool   *x509.CertPool
	// CertFile and KeyFile are a server certificate for 127.0.0.1 and
	// localhost, also usable as a client certificate.
	CertFile, KeyFile string
	// ClientCertFile and ClientKeyFile are a client certificate.
	ClientCertFile, ClientKeyFile string
	// OtherCAFile is a second CA that signed none of the above (an
	// "unknown CA" for a client).
	OtherCAFile string

	caKey  *ecdsa.PrivateKey
	caCert *x509.Certificate
}

// NewPKI generates a CA, a server and a client certificate into t.TempDir().
func NewPKI(t testing.TB) *PKI {
	t.Helper()
	dir := t.TempDir()
	p := &PKI{Dir: dir, CAFile: filepath.Join(dir, "ca.pem"), OtherCAFile: filepath.Join(dir, "other-ca.pem")}
	var caPEM []byte
	p.caKey, p.caCert, caPEM = issue(t, nil, nil, "vigil test CA", true)
	_, _, otherPEM := issue(t, nil, nil, "another test CA", true)
	writePEM(t, p.CAFile, caPEM)
	writePEM(t, p.OtherCAFile, otherPEM)
	p.CertFile, p.KeyFile = p.Issue(t, "server", "127.0.0.1")
	p.ClientCertFile, p.ClientKeyFile = p.Issue(t, "client", "vigil-test-client")
	p.Pool = x509.NewCertPool()
	p.Pool.AppendCertsFromPEM(caPEM)
	return p
}

// Issue writes NAME.pem and NAME.key signed by the CA, valid for server and
// client authentication, with SANs 127.0.0.1, ::1 and localhost.
func (p *PKI) Issue(t testing.TB, name, cn string) (certFile, keyFile string) {
	t.Helper()
	key, _, certPEM := issue(t, p.caKey, p.caCert, cn, false)
	certFile, keyFile = filepath.Join(p.Dir, name+".pem"), filepath.Join(p.Dir, name+".key")
	writePEM(t, certFile, certPEM)
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	writePEM(t, keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}))
	return certFile, keyFile
}

// ClientCertificate loads the client key pair for a tls.Config.
func (p *PKI) ClientCertificate(t testing.TB) tls.Certificate {
	t.Helper()
	c, err := tls.LoadX509KeyPair(p.ClientCertFile, p.ClientKeyFile)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func issue(t testing.TB, parentKey *ecdsa.PrivateKey, parent *x509.Certificate, cn string, isCA bool) (*ecdsa.PrivateKey, *x509.Certificate, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	if isCA {
		tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
		tmpl.KeyUsage |= x509.KeyUsageCertSign
		tmpl.ExtKeyUsage = nil
	} else {
		tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}
		tmpl.DNSNames = []string{"localhost"}
	}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return key, cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func writePEM(t testing.TB, name string, b []byte) {
	t.Helper()
	if err := os.WriteFile(name, b, 0o600); err != nil {
		t.Fatal(err)
	}
}
