/**
 * Round-trip time and retransmission timeout (RFC 6298 §2). Each session has one, seeded from
 * an engine-wide estimator per test server, which every session's samples also feed: a new
 * session starts with the RTO its test server has shown, as Linux seeds new connections from
 * its per-destination metrics, instead of a blind initial value. Under load the copier's view of
 * the round trip (through intercept) can be hundreds of milliseconds; a blind 200 ms RTO then
 * retransmits every SYN and draws SYN cookies from the test server.
 */
import { INITIAL_RTO_MS, MAX_RTO_MS, MIN_RTO_MS } from './config.js';

/** RFC 6298 §2.3 gains: alpha = 1/8, beta = 1/4; K = 4. */
const ALPHA = 0.125;
const BETA = 0.25;
const K = 4;

export class RttEstimator {
  srtt = 0;
  rttvar = 0;
  rto = INITIAL_RTO_MS;

  /** A new estimator starting from what `seed` has learned (or the initial RTO). */
  static seededFrom(seed: RttEstimator): RttEstimator {
    const e = new RttEstimator();
    e.srtt = seed.srtt;
    e.rttvar = seed.rttvar;
    e.rto = seed.rto;
    return e;
  }

  sample(rtt: number): void {
    if (this.srtt === 0) {
      this.srtt = rtt;
      this.rttvar = rtt / 2;
    } else {
      this.rttvar = (1 - BETA) * this.rttvar + BETA * Math.abs(this.srtt - rtt);
      this.srtt = (1 - ALPHA) * this.srtt + ALPHA * rtt;
    }
    this.rto = Math.min(MAX_RTO_MS, Math.max(MIN_RTO_MS, this.srtt + K * this.rttvar));
  }

  /** RFC 6298 §5.5: back off after a timeout. */
  backOff(): void {
    this.rto = Math.min(this.rto * 2, MAX_RTO_MS);
  }
}
