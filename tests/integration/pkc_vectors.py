"""Builds PKC test vectors at test time: certs-only PKCS#7 files from
certificate bytes (kept exactly, in the order given), tampered copies of the
real files, and a self-made chain with the real files' names and extensions
under a self-made root."""
import datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ObjectIdentifier

DATA = Path(__file__).resolve().parents[1] / "data" / "luna-pkc"
SIGNED_DATA_OID = bytes.fromhex("06092a864886f70d010702")
DATA_OID = bytes.fromhex("06092a864886f70d010701")


def tlv(tag: int, content: bytes) -> bytes:
    n = len(content)
    if n < 128:
        length = bytes([n])
    else:
        octets = n.to_bytes((n.bit_length() + 7) // 8, "big")
        length = bytes([0x80 | len(octets)]) + octets
    return bytes([tag]) + length + content


def read_tlv(data: bytes, at: int = 0):
    """(tag, content start, content end) of the TLV at `at`."""
    tag, length, header = data[at], data[at + 1], 2
    if length & 0x80:
        octets = length & 0x7f
        length = int.from_bytes(data[at + 2:at + 2 + octets], "big")
        header += octets
    return tag, at + header, at + header + length


def certs_only(certificates, signer_infos: bytes = b"", content: bytes = b"") -> bytes:
    encap = tlv(0x30, DATA_OID + (tlv(0xa0, tlv(0x04, content)) if content else b""))
    signed = tlv(0x30, tlv(0x02, b"\x01") + tlv(0x31, b"") + encap + tlv(0xa0, b"".join(certificates)) +
                 tlv(0x31, signer_infos))
    return tlv(0x30, SIGNED_DATA_OID + tlv(0xa0, signed))


def certificates_of(pkcs7: bytes):
    """The certificate bytes of a certs-only PKCS#7, in file order."""
    _, start, end = read_tlv(pkcs7)
    _, _, oid_end = read_tlv(pkcs7, start)
    _, sd_start, _ = read_tlv(pkcs7, oid_end)           # [0]
    _, at, sd_end = read_tlv(pkcs7, sd_start)            # SignedData
    for _ in range(3):                                   # version, digestAlgorithms, encapContentInfo
        at = read_tlv(pkcs7, at)[2]
    _, cert_at, certs_end = read_tlv(pkcs7, at)          # [0] certificates
    certificates = []
    while cert_at < certs_end:
        end = read_tlv(pkcs7, cert_at)[2]
        certificates.append(pkcs7[cert_at:end])
        cert_at = end
    return certificates


def real(name: str) -> bytes:
    return (DATA / name).read_bytes()


def flip(data: bytes, offset: int) -> bytes:
    return data[:offset] + bytes([data[offset] ^ 0x01]) + data[offset + 1:]


def tampered_signature(certificate: bytes) -> bytes:
    return flip(certificate, len(certificate) - 5)  # inside the signature BIT STRING


def tampered_tbs(certificate: bytes) -> bytes:
    _, start, _ = read_tlv(certificate)
    _, tbs_start, tbs_end = read_tlv(certificate, start)
    return flip(certificate, tbs_end - 40)  # inside the TBS, past the header


def oid_der(dotted: str) -> bytes:
    """DER of an OBJECT IDENTIFIER (X.690 8.19), arcs of any size."""
    arcs = [int(arc) for arc in dotted.split(".")]
    body = bytearray()
    for arc in [arcs[0] * 40 + arcs[1], *arcs[2:]]:
        chunk = [arc & 0x7F]
        while arc > 0x7F:
            arc >>= 7
            chunk.append(0x80 | (arc & 0x7F))
        body += bytes(reversed(chunk))
    return tlv(0x06, bytes(body))


def name(*attributes):
    oids = {"C": x509.oid.NameOID.COUNTRY_NAME, "ST": x509.oid.NameOID.STATE_OR_PROVINCE_NAME,
            "L": x509.oid.NameOID.LOCALITY_NAME, "O": x509.oid.NameOID.ORGANIZATION_NAME,
            "OU": x509.oid.NameOID.ORGANIZATIONAL_UNIT_NAME, "CN": x509.oid.NameOID.COMMON_NAME}
    return x509.Name([x509.NameAttribute(oids[k], v) for k, v in attributes])


# The real RSA PKC's names, role EKUs and 12383.2.x values (from
# tests/data/luna-pkc/rsa-pkc.p7b), leaf first. cryptography cannot load the
# real certificates themselves: they encode "critical FALSE" explicitly.
RSA_PROFILE = [
    (name(("OU", "Chrysalis-ITS Proof of Origin"), ("CN", "41000000ae000002d6f30700")), 13,
     {"1.3.6.1.4.1.12383.2.1": "d6f30700", "1.3.6.1.4.1.12383.2.3": "54000700"}),
    (name(("C", "CA"), ("O", "Chrysalis-ITS"), ("OU", "Chrysalis-ITS DeviceAuthenticationCertificate"),
          ("CN", "Luna K7-521174")), 12, {"1.3.6.1.4.1.12383.2.1": "d6f30700"}),
    (name(("CN", "Hardware Origin Certificate")), 8, {}),
    (name(("C", "CA"), ("ST", "Ontario"), ("L", "Ottawa"), ("O", "Thales Canada"), ("OU", "HSM Engineering"),
          ("CN", "Thales Luna Mfg Integrity Certifcate x1")), 7, {}),
    (name(("C", "CA"), ("ST", "Ontario"), ("L", "Ottawa"), ("O", "Chrysalis-ITS Inc."), ("CN", "Chrysalis-ITS Root")),
     1, {}),
]


# The same for the real ECC PKC (tests/data/luna-pkc/ecc-pkc.p7b).
ECC_PROFILE = [
    (name(("O", "SafeNet, Inc."), ("OU", "Luna Module"), ("CN", "43000000ae000002d6f30700")), 13,
     {"1.3.6.1.4.1.12383.2.1": "d6f30700"}),
    (name(("C", "US"), ("O", "SafeNet, Inc."), ("OU", "Luna Module Hardware Origin"), ("CN", "521174")), 15, {}),
    (name(("C", "US"), ("O", "SafeNet, Inc."), ("OU", "Luna Manufacturer Integrity ECC"),
          ("CN", "SafeNet ECC Manufacturer Integrity Module ")), 14, {}),
]


class SelfMadeChain:
    """A real profile's names and extensions, with keys and a root of our own.
    `roles` replaces the role EKUs (0: a non-PKC EKU instead; a string: that
    whole OID)."""

    def __init__(self, roles=None, profile=RSA_PROFILE):
        roles = roles or [role for _, role, _ in profile]
        make_key = (lambda: rsa.generate_private_key(65537, 2048)) if profile is RSA_PROFILE else \
            (lambda: ec.generate_private_key(ec.SECP384R1()))
        self.keys = [make_key() for _ in profile]
        start = datetime.datetime(2024, 1, 1)
        self.certificates = []
        for i, (subject, _, values) in enumerate(profile):
            issuer = profile[min(i + 1, len(profile) - 1)][0]
            if isinstance(roles[i], str):  # a whole OID, encoded here: cryptography refuses huge arcs
                usages = x509.UnrecognizedExtension(x509.oid.ExtensionOID.EXTENDED_KEY_USAGE,
                                                    tlv(0x30, oid_der(roles[i])))
            else:
                usages = x509.ExtendedKeyUsage([ObjectIdentifier(f"1.3.6.1.4.1.12383.1.{roles[i]}") if roles[i] else
                                                x509.oid.ExtendedKeyUsageOID.SERVER_AUTH])
            builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer)
                       .public_key(self.keys[i].public_key()).serial_number(1000 + i)
                       .not_valid_before(start).not_valid_after(start + datetime.timedelta(days=3650))
                       .add_extension(usages, critical=True))
            if i > 0:
                builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            for oid, value in values.items():
                builder = builder.add_extension(x509.UnrecognizedExtension(ObjectIdentifier(oid),
                                                                           bytes.fromhex(value)), critical=False)
            self.certificates.append(builder)
        self.certificates = [builder.sign(self.keys[min(i + 1, len(self.keys) - 1)], hashes.SHA256())
                             for i, builder in enumerate(self.certificates)]

    def pkcs7(self) -> bytes:
        return certs_only([c.public_bytes(serialization.Encoding.DER) for c in self.certificates])

    def root_pem(self) -> bytes:
        return self.certificates[-1].public_bytes(serialization.Encoding.PEM)

    def csr(self) -> bytes:
        builder = x509.CertificateSigningRequestBuilder().subject_name(name(("CN", "self-made")))
        return builder.sign(self.keys[0], hashes.SHA256()).public_bytes(serialization.Encoding.PEM)

    def write_issuer(self, directory: Path, prefix: str):
        """What the test shim needs to issue leaves: the leaf's issuer key and
        the chain above the leaf (issuer first)."""
        key = self.keys[1].private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                         serialization.NoEncryption())
        (directory / f"{prefix}-issuer.key").write_bytes(key)
        (directory / f"{prefix}-chain.pem").write_bytes(
            b"".join(c.public_bytes(serialization.Encoding.PEM) for c in self.certificates[1:]))


def make_test_luna(directory: Path) -> Path:
    """Test chains of both profiles for the shim; returns their roots' file."""
    chains = {"rsa": SelfMadeChain(), "ecc": SelfMadeChain(profile=ECC_PROFILE)}
    for prefix, chain in chains.items():
        chain.write_issuer(directory, prefix)
    roots = directory / "test-roots.pem"
    roots.write_bytes(b"".join(chain.root_pem() for chain in chains.values()))
    return roots


def signed_message() -> bytes:
    """A PKCS#7 SignedData that carries a signer info: a signature, not a PKC."""
    certificates = certificates_of(real("rsa-pkc.p7b"))
    return certs_only(certificates, signer_infos=tlv(0x30, tlv(0x02, b"\x01")), content=b"hello")
