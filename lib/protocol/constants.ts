/** asyncio's constants for SSL transports, with its units (seconds, KiB). */

/** Default handshake timeout in seconds (asyncio: "matches that of Nginx"). */
export const SSL_HANDSHAKE_TIMEOUT = 60.0;
/** Default shutdown timeout in seconds: how long to wait for the peer's close_notify. */
export const SSL_SHUTDOWN_TIMEOUT = 30.0;
/** Read-side high water mark in KiB (ciphertext waiting to be decrypted). */
export const FLOW_CONTROL_HIGH_WATER_SSL_READ = 256;
/** Write-side high water mark in KiB (plaintext and ciphertext not yet handed to the socket). */
export const FLOW_CONTROL_HIGH_WATER_SSL_WRITE = 512;
/** After this many writes to a closed transport, each further one logs a warning. */
export const LOG_THRESHOLD_FOR_CONNLOST_WRITES = 5;

/**
 * asyncio's add_flowcontrol_defaults: fills in whichever of high/low is
 * missing (low defaults to a quarter of high, high to four times low) and
 * checks high >= low >= 0. Returns [high, low].
 */
export function addFlowcontrolDefaults(high: number | null | undefined, low: number | null | undefined, kb: number): [number, number] {
  let hi: number;
  let lo: number;
  if (high == null) {
    if (low == null) {
      hi = kb * 1024;
    } else {
      hi = 4 * low;
    }
  } else {
    hi = high;
  }
  if (low == null) lo = Math.floor(hi / 4);
  else lo = low;
  if (!(hi >= lo && lo >= 0)) {
    throw Object.assign(new RangeError(`high (${hi}) must be >= low (${lo}) must be >= 0`), {
      code: 'ERR_OUT_OF_RANGE',
    });
  }
  return [hi, lo];
}
