// A strict, schema-validating OCPP 2.0.1 / 2.1 charging station (npm ocpp-rpc) for CSMS tests.
//
// usage: node station.js WS_BASE_URL STATION_ID PROTOCOL [PASSWORD]
//   PROTOCOL is ocpp2.0.1 or ocpp2.1. The station boots, reports one connector, then answers
//   the CSMS until stdin closes. Every inbound call is printed on stdout as one JSON line:
//   {"event":"accepted","method":...,"params":...} when it passed the schema, or
//   {"event":"rejected","method":...,"code":...,"message":...} when strict mode refused it.
//   {"event":"ready"} follows a successful boot; {"event":"error",...} a failure.
'use strict';

const { RPCClient } = require('ocpp-rpc');
const { createValidator } = require('ocpp-rpc/lib/validator');

// ocpp-rpc 2.2.1 ships its OCPP 2.1 schemas as urn:XRequest / urn:XResponse, but looks them
// up as urn:X.req / urn:X.conf, so strict 2.1 fails on every call until they are re-keyed.
function rekeyed21() {
    const schemas = require('ocpp-rpc/lib/schemas/ocpp2_1.json').map((schema) => {
        const id = schema.$id
            .replace(/^urn:(.*)Request$/, 'urn:$1.req')
            .replace(/^urn:(.*)Response$/, 'urn:$1.conf');
        return { ...schema, $id: id };
    });
    return createValidator('ocpp2.1', schemas);
}

function emit(obj) {
    process.stdout.write(JSON.stringify(obj) + '\n');
}

const SMART_CHARGING = { PeriodsPerSchedule: '24', RateUnit: 'A,W', ProfileStackLevel: '8' };

async function main() {
    const [url, identity, protocol, password] = process.argv.slice(2);
    const client = new RPCClient({
        endpoint: url,
        identity,
        protocols: [protocol],
        strictMode: true,
        strictModeValidators: [rekeyed21()],
        password: password || undefined,
        reconnect: false,
    });
    client.on('strictValidationFailure', ({ method, outbound, isCall, error }) => {
        emit({ event: 'rejected', method, outbound, isCall, code: error.rpcErrorCode, message: error.message });
    });
    client.handle('GetVariables', ({ params }) => {
        emit({ event: 'accepted', method: 'GetVariables', params });
        return {
            getVariableResult: params.getVariableData.map(({ component, variable }) => {
                const value = component.name === 'SmartChargingCtrlr' ? SMART_CHARGING[variable.name] : undefined;
                return value === undefined
                    ? { attributeStatus: 'UnknownVariable', component, variable }
                    : { attributeStatus: 'Accepted', attributeValue: value, component, variable };
            }),
        };
    });
    for (const method of ['SetChargingProfile', 'UpdateDynamicSchedule', 'ClearChargingProfile']) {
        client.handle(method, ({ params }) => {
            emit({ event: 'accepted', method, params });
            return { status: 'Accepted' };
        });
    }
    client.on('close', ({ code, reason }) => emit({ event: 'closed', code, reason: String(reason) }));

    await client.connect();
    await client.call('BootNotification', {
        reason: 'PowerUp',
        chargingStation: { model: 'StrictStation', vendorName: 'ocpp-rpc' },
    });
    await client.call('StatusNotification', {
        timestamp: new Date().toISOString(),
        connectorStatus: 'Available',
        evseId: 1,
        connectorId: 1,
    });
    emit({ event: 'ready', protocol: client.protocol });

    process.stdin.resume();
    process.stdin.on('end', async () => {
        await client.close({ code: 1000 });
        process.exit(0);
    });
}

main().catch((err) => {
    emit({ event: 'error', message: String(err && err.message), code: err && err.rpcErrorCode });
    process.exit(1);
});
