#!/usr/bin/env node
// Independent LwM2M client for interop tests, built on lwm2m-node-lib 1.4.0 (Telefonica).
//
//   node client.js --host 127.0.0.1 --port 5683 --endpoint EP [--lifetime 60]
//                  [--lwm2m-version 1.0] [--set /3/0/1=value ...] [--auto-update]
//                  [--shutdown-timeout 10] [--register-timeout 30] [--extra-formats]
//
// stdout: one JSON object per line, e.g.
//   {"event":"registered","location":"rd/abc","localPort":40123,"endpoint":"EP"}
//   {"event":"request","method":"GET","path":"/3/0/0","query":"","accept":null,"observe":null,"from":"127.0.0.1:5683"}
//   {"event":"read","path":"/3/0/0","value":"lwm2m-node-lib"}
//   {"event":"deregistered"}
// Library logs go to stderr (LWM2M_LOG_LEVEL=DEBUG for more). stdin lines: "deregister"
// (de-register and exit 0), "update" (Update POST), "set /O/I/R=VALUE" (change a value; observers
// are notified).
// SIGTERM / SIGINT also de-register and exit 0. Exit 1: registration failed or unanswered
// (--register-timeout); 2: de-register failed; 3: no de-register answer in --shutdown-timeout.
'use strict';

const path = require('path');
const readline = require('readline');

const libDir = path.dirname(require.resolve('lwm2m-node-lib/package.json'));
// Keep stdout for our JSON lines: logops (the library's logger) writes to stdout by default.
const logger = require(require.resolve('logops', { paths: [libDir] }));
logger.setStream(process.stderr);
logger.setLevel(process.env.LWM2M_LOG_LEVEL || 'ERROR');

const lwm2m = require('lwm2m-node-lib');
const client = lwm2m.client;

function emit(obj) {
    process.stdout.write(JSON.stringify(obj) + '\n');
}

function usage(msg) {
    if (msg) {
        process.stderr.write('client.js: ' + msg + '\n');
    }
    process.stderr.write('usage: node client.js --host H --port P --endpoint EP [--lifetime S]' +
        ' [--lwm2m-version V] [--set /O/I/R=VALUE ...] [--auto-update] [--shutdown-timeout S]' +
        ' [--register-timeout S] [--extra-formats]\n');
    process.exit(64);
}

function parseArgs(argv) {
    const opts = {
        host: '127.0.0.1', port: 5683, endpoint: null, lifetime: 60, version: '1.0',
        sets: [], autoUpdate: false, shutdownTimeout: 10, registerTimeout: 30, extraFormats: false
    };
    for (let i = 0; i < argv.length; i++) {
        const a = argv[i];
        const next = () => {
            if (i + 1 >= argv.length) {
                usage('missing value for ' + a);
            }
            return argv[++i];
        };
        switch (a) {
            case '--host': opts.host = next(); break;
            case '--port': opts.port = parseInt(next(), 10); break;
            case '--endpoint': opts.endpoint = next(); break;
            case '--lifetime': opts.lifetime = parseInt(next(), 10); break;
            case '--lwm2m-version': opts.version = next(); break;
            case '--set': opts.sets.push(next()); break;
            case '--auto-update': opts.autoUpdate = true; break;
            case '--shutdown-timeout': opts.shutdownTimeout = parseFloat(next()); break;
            case '--register-timeout': opts.registerTimeout = parseFloat(next()); break;
            case '--extra-formats': opts.extraFormats = true; break;
            case '-h': case '--help': usage(); break;
            default: usage('unknown argument ' + a);
        }
    }
    if (!opts.endpoint) {
        usage('--endpoint is required');
    }
    if (!(opts.port > 0) || !(opts.lifetime > 0)) {
        usage('bad --port or --lifetime');
    }
    return opts;
}

const opts = parseArgs(process.argv.slice(2));

// Resources to create: /3/0/0 always, plus any --set /O/I/R=VALUE.
const resources = [['/3/0', '0', 'lwm2m-node-lib']];
for (const s of opts.sets) {
    const m = /^(\/\d+\/\d+)\/(\d+)=(.*)$/s.exec(s);
    if (!m) {
        usage('bad --set ' + s + ' (want /O/I/R=VALUE)');
    }
    resources.push([m[1], m[2], m[3]]);
}

// The library reads config.client.{lifetime,version,ipProtocol,serverProtocol,port,formats}.
const config = {
    client: {
        lifetime: String(opts.lifetime),
        version: opts.version,
        logLevel: process.env.LWM2M_LOG_LEVEL || 'ERROR',
        observe: { period: 3000 },
        ipProtocol: 'udp4',
        serverProtocol: 'udp4',
        formats: [{ name: 'lightweightm2m/text', value: 1541 }],
        writeFormat: 'lightweightm2m/text'
    }
};

let deviceInfo = null;      // set once registered
let state = 'starting';     // starting | registered | updating | stopping
let stopRequested = false;
let updateTimer = null;

function hookServer(info) {
    // Handlers live on the per-listener serverInfo; update() creates a new one, so re-hook then.
    client.setHandler(info.serverInfo, 'read', function (objectType, objectId, resourceId, value, cb) {
        emit({ event: 'read', path: '/' + objectType + '/' + objectId + '/' + resourceId, value: String(value) });
        cb(null);
    });
    client.setHandler(info.serverInfo, 'write', function (objectType, objectId, resourceId, value, cb) {
        emit({ event: 'write', path: '/' + objectType + '/' + objectId + '/' + resourceId,
            value: Buffer.isBuffer(value) ? value.toString() : String(value) });
        cb(null);
    });
    client.setHandler(info.serverInfo, 'execute', function (objectType, objectId, resourceId, value, cb) {
        emit({ event: 'execute', path: '/' + objectType + '/' + objectId + '/' + resourceId,
            args: value === undefined || value === null ? '' : String(value) });
        cb(null);
    });
    // Every request the library's CoAP listener receives, including ones it answers 4.xx itself.
    // prependListener: report the request before the library's handler emits read/write/execute.
    // Requests whose Accept/Content-Format node-coap does not know never get here (see README).
    info.serverInfo.server.prependListener('request', function (req) {
        const opt = (name) => {
            const o = req.options.find((x) => x.name === name);
            return o ? String(o.value) : null;
        };
        emit({ event: 'request', method: req.method, path: req.url.split('?')[0],
            query: req.url.indexOf('?') >= 0 ? req.url.slice(req.url.indexOf('?') + 1) : '',
            accept: opt('Accept'), observe: opt('Observe'),
            from: req.rsinfo ? req.rsinfo.address + ':' + req.rsinfo.port : null });
    });
}

function scheduleUpdate() {
    if (!opts.autoUpdate) {
        return;
    }
    clearTimeout(updateTimer);
    updateTimer = setTimeout(doUpdate, Math.max(1, opts.lifetime * 0.5) * 1000);
}

function doUpdate() {
    if (state !== 'registered' || stopRequested) {
        return;
    }
    state = 'updating';
    client.update(deviceInfo, function (error, info) {
        if (stopRequested && state === 'stopping') {
            return;
        }
        if (error) {
            emit({ event: 'error', op: 'update', code: error.code || null, message: String(error.message || error) });
        } else {
            deviceInfo = info;
            hookServer(info);
            emit({ event: 'updated', location: info.location, localPort: info.localPort });
        }
        state = 'registered';
        if (stopRequested) {
            shutdown();
        } else {
            scheduleUpdate();
        }
    });
}

function shutdown() {
    stopRequested = true;
    clearTimeout(updateTimer);
    if (state === 'stopping') {
        return;
    }
    if (state !== 'registered') {
        // Registration or update in flight: finish it first, its callback calls shutdown() again.
        return;
    }
    state = 'stopping';
    client.unregister(deviceInfo, function (error) {
        if (error) {
            emit({ event: 'error', op: 'deregister', code: error.code || null, message: String(error.message || error) });
            process.exit(2);
        }
        emit({ event: 'deregistered', location: deviceInfo.location });
        process.exit(0);
    });
}

function requestStop(reason) {
    if (!stopRequested) {
        emit({ event: 'stopping', reason: reason });
        setTimeout(function () {
            emit({ event: 'error', op: 'shutdown', message: 'timed out' });
            process.exit(3);
        }, opts.shutdownTimeout * 1000).unref();
    }
    shutdown();
}

process.on('SIGTERM', () => requestStop('SIGTERM'));
process.on('SIGINT', () => requestStop('SIGINT'));

const rl = readline.createInterface({ input: process.stdin, terminal: false });
rl.on('line', function (line) {
    const cmd = line.trim();
    if (cmd === 'deregister') {
        requestStop('stdin');
    } else if (cmd === 'update') {
        doUpdate();
    } else if (cmd.startsWith('set ')) {
        // "set /O/I/R=VALUE": change a value (creates it); active observations get a notification.
        const m = /^set (\/\d+\/\d+)\/(\d+)=(.*)$/s.exec(cmd);
        if (!m) {
            emit({ event: 'error', op: 'stdin', message: 'bad set ' + cmd });
            return;
        }
        client.registry.get(m[1], function (e) {
            const apply = () => client.registry.setResource(m[1], m[2], m[3], function (err) {
                emit(err ? { event: 'error', op: 'set', message: String(err.message || err) }
                    : { event: 'set', path: m[1] + '/' + m[2], value: m[3] });
            });
            if (e) {
                client.registry.create(m[1], apply);
            } else {
                apply();
            }
        });
    } else if (cmd) {
        emit({ event: 'error', op: 'stdin', message: 'unknown command ' + cmd });
    }
});
// EOF on stdin is ignored (the client may be started with stdin closed).

function createResources(cb) {
    let i = 0;
    const created = new Set();
    function step(err) {
        if (err) {
            return cb(err);
        }
        if (i >= resources.length) {
            return cb(null);
        }
        const [obj, res, val] = resources[i++];
        if (!created.has(obj)) {
            created.add(obj);
            client.registry.create(obj, function (e) {
                if (e) {
                    return cb(e);
                }
                client.registry.setResource(obj, res, val, step);
            });
        } else {
            client.registry.setResource(obj, res, val, step);
        }
    }
    step(null);
}

if (opts.extraFormats) {
    // Not vendor behaviour: make node-coap parse these Accept/Content-Format numbers instead of
    // silently dropping the request. Answers are still plain text without Content-Format.
    const coap = require(require.resolve('coap', { paths: [libDir] }));
    for (const [name, value] of [['application/vnd.oma.lwm2m+tlv', 11542], ['application/vnd.oma.lwm2m+json', 11543],
        ['application/senml+json', 110], ['application/senml+cbor', 112], ['application/senml-etch+json', 320],
        ['application/senml-etch+cbor', 322], ['application/vnd.oma.lwm2m+cbor', 11544],
        ['application-vnd-oma-lwm2m/tlv', 1542], ['application-vnd-oma-lwm2m/json', 1543],
        ['application-vnd-oma-lwm2m/opaque', 1544]]) {
        coap.registerFormat(name, value);
    }
}

const registerTimer = setTimeout(function () {
    emit({ event: 'error', op: 'register', message: 'no answer in ' + opts.registerTimeout + ' s' });
    process.exit(1);
}, opts.registerTimeout * 1000);

client.init(config);
createResources(function (error) {
    if (error) {
        emit({ event: 'error', op: 'create', message: String(error.message || error) });
        process.exit(1);
    }
    client.register(opts.host, opts.port, null, opts.endpoint, function (err, info) {
        if (err) {
            clearTimeout(registerTimer);
            emit({ event: 'error', op: 'register', code: err.code || null, message: String(err.message || err) });
            process.exit(1);
        }
        clearTimeout(registerTimer);
        deviceInfo = info;
        hookServer(info);
        state = 'registered';
        emit({ event: 'registered', location: info.location, localPort: info.localPort,
            endpoint: opts.endpoint });
        if (stopRequested) {
            shutdown();
        } else {
            scheduleUpdate();
        }
    });
});
