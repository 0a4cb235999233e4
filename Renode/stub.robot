*** Comments ***
The firmware stub on Renode's mps2-an385 board against a real `mlaas serve`: it registers, is
classified as mps2-an385 and receives a package by pull. Run from the repository root, as
root (the TAP device), after `make -C firmware_stubs BOARD=renode-an385` (its compiled-in
command line must name ${ENDPOINT} and 192.0.2.2:5683, the default):

    renode-test Renode/stub.robot

Not run here (Renode is not installed); see Renode/README.md. The UART lines it waits for are
the client's: "registered /rd/<id>", "fw state <n>" (Object 5 state: 1 downloading,
2 downloaded).

*** Settings ***
Suite Setup         Start Server And Network
Suite Teardown      Stop Server And Network
Test Teardown       Test Teardown
Resource            ${RENODEKEYWORDS}
Library             Process
Library             OperatingSystem

*** Variables ***
${ROOT}             ${CURDIR}/..
${MLAAS}            ${ROOT}/.venv/bin/mlaas
${DATA}             ${TEMPDIR}/mlaas-renode
${TAP}              renode-tap0
${UART}             sysbus.uart0
${ENDPOINT}         stub-renode
${TARGET}           sine-s

*** Keywords ***
Start Server And Network
    Setup
    Remove Directory    ${DATA}    recursive=True
    Set Environment Variable    MLAAS_ADVERTISED_HOST    192.0.2.2
    Set Environment Variable    MLAAS_DATA_DIR    ${DATA}
    Start Process    ${MLAAS}    serve    --coap-host    0.0.0.0    --coaps-port    -1
    ...    --http-port    8080    alias=server
    ...    stdout=${DATA}.log    stderr=STDOUT
    Sleep    5s

Stop Server And Network
    Terminate Process    server
    Run Process    ip    link    delete    ${TAP}
    Teardown

Boot Stub
    Execute Script    ${ROOT}/Renode/stub.resc
    Run Process    ip    addr    add    192.0.2.2/24    dev    ${TAP}
    Run Process    ip    link    set    ${TAP}    up
    Create Terminal Tester    ${UART}    timeout=120
    Start Emulation

Device Field Should Be
    [Arguments]    ${field}    ${expected}
    ${out}=    Run Process    ${MLAAS}    devices    show    ${ENDPOINT}    --json
    Should Be Equal As Integers    ${out.rc}    0
    ${device}=    Evaluate    json.loads($out.stdout)    modules=json
    Should Be Equal    ${device}[${field}]    ${expected}

*** Test Cases ***
Stub Registers And Is Classified
    Boot Stub
    Wait For Line On Uart    registered /rd/
    Device Field Should Be    class    mps2-an385

Stub Downloads, Checks And Runs Its Native Model
    Boot Stub
    Wait For Line On Uart    registered /rd/
    ${out}=    Run Process    ${MLAAS}    rollout    create    ${TARGET}
    ...    --endpoint    ${ENDPOINT}    --canary    1
    Should Be Equal As Integers    ${out.rc}    0    ${out.stderr}
    Wait For Line On Uart    fw state 1
    Wait For Line On Uart    fw state 2
    Wait For Line On Uart    ml golden vectors reproduced
    Wait For Line On Uart    fw result 1
    Wait For Line On Uart    ml running
