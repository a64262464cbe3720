export * from './packet-builder.js';
export * from './pcap-file.js';
