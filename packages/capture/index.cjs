'use strict';
// The addon is built by `node-gyp rebuild` when the package is installed (see package.json).
module.exports = require('./build/Release/packet_ring.node');
