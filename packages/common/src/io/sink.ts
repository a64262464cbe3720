/** Where rewritten packets go. The daemons take a PacketSink, so tests can hand in a recorder. */

export interface SinkStats {
  /** Packets the kernel accepted. */
  sent: number;
  /** Packets given up on, by errno name (EPERM, EMSGSIZE, ENOBUFS, ...) or our own reason
   *  (EADDRESS: not an IPv4 address; ECLOSED: sent after close). */
  errors: Readonly<Record<string, number>>;
  /** Send attempts repeated after a transient error. */
  retried: number;
  /** Packets refused because the send queue was full. */
  queueFull: number;
  /** Packets accepted but not yet sent. */
  queued: number;
}

export interface PacketSink {
  /**
   * Sends (or queues) the IPv4 packet `buf[offset..offset+length)` for `dstIp`. The sink is
   * done with `buf` when this returns, so the caller may reuse it at once. Never throws: a
   * packet that cannot be sent is counted in stats(). False means it is not sent and will not
   * be: refused (queue full, closed, bad address) or failed at once with a permanent error.
   */
  send(buf: Buffer, offset: number, length: number, dstIp: string): boolean;
  stats(): SinkStats;
  /** Sends what is queued (bounded wait), then releases the socket. */
  close(): Promise<void>;
}
