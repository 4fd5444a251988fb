"""Test double of a Marvell (Google Cloud HSM) attestation, built at test
time: no real HSM can be asked for one whose key is extractable, or signed
under a self-made root. The layout is the one the real sample has (and
Google documents): response header, handles, the attribute buffer with its
info header and the two objects, then a 256-byte RSA PKCS#1 v1.5 SHA-256
signature by the partition key. The chains repeat the real names
(manufacturer and owner, as in tests/data/attestation/marvell/chain.pem)
under self-made keys."""
import datetime
import gzip
import re
import struct
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

CKA_CLASS, CKA_KEY_TYPE, CKA_SENSITIVE, CKA_MODULUS, CKA_PUBLIC_EXPONENT = 0x0, 0x100, 0x103, 0x120, 0x122
CKA_EXTRACTABLE, CKA_LOCAL, CKA_NEVER_EXTRACTABLE = 0x162, 0x163, 0x164
CKO_PUBLIC_KEY, CKO_PRIVATE_KEY, CKK_RSA, CKK_EC = 2, 3, 0, 3


DATA = Path(__file__).resolve().parents[1] / "data" / "attestation" / "marvell"


def real_names():
    """The subjects of the real roots and chain: manufacturer, owner, card, partition."""
    pems = re.findall(rb"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", (DATA / "chain.pem").read_bytes(),
                      re.S)
    chain = [x509.load_pem_x509_certificate(p) for p in pems]
    roots = [x509.load_pem_x509_certificate((DATA / f).read_bytes()) for f in ("manufacturer_root.pem",
                                                                                "owner_root.pem")]
    return roots[0].subject, roots[1].subject, chain[1].subject, chain[0].subject


def certificate(subject, issuer, key, signer, ca, not_after=datetime.datetime(2034, 1, 1)):
    builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(key.public_key())
               .serial_number(x509.random_serial_number()).not_valid_before(datetime.datetime(2020, 1, 1))
               .not_valid_after(not_after)
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    return builder.sign(signer, hashes.SHA256())


class SelfMadeChains:
    """A manufacturer root, card and partition certificate, and an owner root
    with its own partition certificate for the same partition key, with the
    real sample's names."""

    def __init__(self, manufacturer_not_after=datetime.datetime(2034, 1, 1)):
        self.partition_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        manufacturer_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        card_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        owner_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        manufacturer, owner, card, partition = real_names()
        self.manufacturer_root = certificate(manufacturer, manufacturer, manufacturer_key, manufacturer_key, True,
                                             manufacturer_not_after)
        self.owner_root = certificate(owner, owner, owner_key, owner_key, True)
        self.chain = [certificate(partition, card, self.partition_key, card_key, False),
                      certificate(card, manufacturer, card_key, manufacturer_key, True),
                      certificate(partition, owner, self.partition_key, owner_key, False)]

    def roots_pem(self):
        return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in [self.manufacturer_root, self.owner_root])

    def chain_pem(self):
        return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in self.chain)


def attribute(kind, value: bytes) -> bytes:
    return struct.pack(">II", kind, len(value)) + value


def key_object(handle, attributes) -> bytes:
    body = b"".join(attribute(kind, value) for kind, value in attributes)
    return struct.pack(">III", handle, len(attributes), 12 + len(body)) + body


def material_of(public):
    """CKA_KEY_TYPE and the public value's attributes of a public key."""
    if isinstance(public, ec.EllipticCurvePublicKey):
        return CKK_EC, [(CKA_MODULUS, public.public_bytes(serialization.Encoding.X962,
                                                          serialization.PublicFormat.UncompressedPoint))]
    numbers = public.public_numbers()
    return CKK_RSA, [(CKA_MODULUS, numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big")),
                     (CKA_PUBLIC_EXPONENT, numbers.e.to_bytes(3, "big"))]


def blob(key, signer, extractable=False, local=True, never_extractable=True, compress=True,
         public_key_of=None) -> bytes:
    """An attestation of `key` (an EC or RSA private key of `cryptography`),
    signed by `signer`, with the private object's flags as given; with
    `public_key_of`, the public object holds that other key's value."""
    key_type, material = material_of(key.public_key())
    common = [(CKA_KEY_TYPE, bytes([key_type])), (CKA_LOCAL, bytes([local]))]
    public_material = material_of(public_key_of.public_key())[1] if public_key_of else material
    public_object = key_object(0x10, [(CKA_CLASS, bytes([CKO_PUBLIC_KEY]))] + common + public_material)
    private_object = key_object(0x11, [(CKA_CLASS, bytes([CKO_PRIVATE_KEY]))] + common + material + [
        (CKA_SENSITIVE, b"\x01"), (CKA_EXTRACTABLE, bytes([extractable])),
        (CKA_NEVER_EXTRACTABLE, bytes([never_extractable]))])
    info = struct.pack(">HHHH", 1, 3, 8, 8 + len(public_object))
    buffer = info + public_object + private_object
    total = 32 + len(buffer) + 256
    signed = struct.pack(">IIII", 0, 3, total, len(buffer)) + struct.pack(">QQ", 0x10, 0x11) + buffer
    data = signed + signer.sign(signed, padding.PKCS1v15(), hashes.SHA256())
    return gzip.compress(data) if compress else data
