import { IPV4_MAX_HEADER_LENGTH, IPV4_MIN_HEADER_LENGTH } from '../packet/ipv4.js';
import { TCP_MAX_HEADER_LENGTH, TCP_MIN_HEADER_LENGTH } from '../packet/tcp.js';

/**
 * Wire constants of the native control protocol (copier <-> intercept). The layouts are described
 * in docs/protocol.md; every number the codecs use is named here once.
 */

/** Upstream's control port, kept so either half can pair with the C tools (docs/protocol.md). */
export const CONTROL_DEFAULT_PORT = 36524;

/**
 * Highest native protocol version this build speaks; a peer's hello may announce a higher one.
 * Version 2 added authentication (the `auth` message and the meaning of hello.auth).
 */
export const CONTROL_PROTOCOL_VERSION = 2;
/** Lowest version this build still accepts from a peer. */
export const CONTROL_MIN_PROTOCOL_VERSION = 1;

/** Every frame starts with its payload length as a big-endian u32. */
export const CONTROL_FRAME_HEADER_BYTES = 4;
/**
 * Largest payload a decoder accepts (and an encoder produces). A declared length above it kills the
 * connection before any allocation. A legacy (upstream v6) peer's first 4 bytes are all zero, and a
 * native frame never declares length 0: that is how a server tells the two protocols apart.
 */
export const CONTROL_MAX_FRAME_BYTES = 1 << 20;
/**
 * Frames a peer may send before its hello: a hello is well under 1 KiB (two short strings, an
 * auth proof of at most CONTROL_MAX_AUTH_BYTES). A stranger cannot make the intercept buffer a
 * megabyte per connection while the hello timeout runs.
 */
export const CONTROL_MAX_HELLO_FRAME_BYTES = 2048;

/** Message type tags (the `type` field of every payload). New types need a version bump. */
export const ControlMessageType = {
  Hello: 1,
  Heartbeat: 2,
  RouteAdd: 3,
  RouteDel: 4,
  Responses: 5,
  Stats: 6,
  /** Version 2: the copier's proof of the shared secret (auth.ts). */
  Auth: 7,
  /**
   * Payload records (payload-responses.ts), sent only to a copier whose hello asked for the
   * `payload` feature and whose intercept granted it: a hello feature, not a version, gates it.
   */
  PayloadResponses: 8,
} as const;
export type ControlMessageType = (typeof ControlMessageType)[keyof typeof ControlMessageType];

/** Limits on hello and stats fields, so a peer cannot make us hold arbitrary amounts of text. */
export const CONTROL_MAX_ID_LENGTH = 128;
/**
 * hello.features: at most this many names of at most this many chars, so a hello with all of
 * them stays within CONTROL_MAX_HELLO_FRAME_BYTES.
 */
export const CONTROL_MAX_FEATURES = 16;
export const CONTROL_MAX_FEATURE_LENGTH = 32;
/**
 * The hello feature asking for (copier) or granting (intercept) payload records: the test
 * server's reply bytes, for response comparison (docs/protocol.md §2.2).
 */
export const CONTROL_FEATURE_PAYLOAD = 'payload';
export const CONTROL_MAX_AUTH_BYTES = 256;
export const CONTROL_MAX_STATS_KEYS = 1024;

/** The first version whose hellos carry nonces and proofs (docs/protocol.md §2.1). */
export const CONTROL_AUTH_MIN_VERSION = 2;
/** Each side's fresh random challenge. */
export const CONTROL_AUTH_NONCE_BYTES = 32;
/** An HMAC-SHA256 output (RFC 2104, FIPS 180-4). */
export const CONTROL_AUTH_PROOF_BYTES = 32;
/**
 * Shortest shared secret accepted: 128 bits, out of reach of guessing. RFC 2104 §3 advises a key
 * of at least the hash's length (32 bytes), which the documented `head -c 32 /dev/urandom` gives.
 */
export const CONTROL_AUTH_MIN_KEY_BYTES = 16;

/**
 * Route record (routeAdd / routeDel), 12 bytes, big-endian: the flow as the target server sees it.
 *   0 u32 fake client IPv4 | 4 u16 client port | 6 u32 target IPv4 | 10 u16 target port
 */
export const ROUTE_RECORD_BYTES = 12;
export const ROUTE_OFF_CLIENT_IP = 0;
export const ROUTE_OFF_CLIENT_PORT = 4;
export const ROUTE_OFF_TARGET_IP = 6;
export const ROUTE_OFF_TARGET_PORT = 10;
/** Routes per message, so a full batch (786 KiB) always fits in one frame. */
export const CONTROL_MAX_ROUTES_PER_MESSAGE = 65536;

/**
 * Response record: u16 length of what follows, then the reply's IPv4 header as captured (IHL may
 * exceed 5) and its TCP header with options (data offset * 4 bytes). The payload is stripped but
 * the IPv4 total length is kept, so payload length = total length - IHL*4 - doff*4.
 */
export const RESPONSE_RECORD_LENGTH_BYTES = 2;
/** Smallest headers: 20-byte IPv4 (RFC 791 IHL >= 5) + 20-byte TCP (RFC 9293 data offset >= 5). */
export const RESPONSE_MIN_HEADERS_BYTES = IPV4_MIN_HEADER_LENGTH + TCP_MIN_HEADER_LENGTH;
/** Largest headers: both header-length fields are 4 bits counting 32-bit words, 15 * 4 each. */
export const RESPONSE_MAX_HEADERS_BYTES = IPV4_MAX_HEADER_LENGTH + TCP_MAX_HEADER_LENGTH;
/**
 * Payload record (payloadResponses), big-endian:
 *   0 u16 headersLength | 2 u16 payloadLength | headers (as in a response record) | payload
 * The payload is what the capture held of the reply's data, at most what its total length declares.
 */
export const PAYLOAD_RECORD_PREFIX_BYTES = 4;
export const PAYLOAD_RECORD_OFF_HEADERS_LENGTH = 0;
export const PAYLOAD_RECORD_OFF_PAYLOAD_LENGTH = 2;
