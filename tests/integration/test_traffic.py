#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
# Copyright(c) 2026 The vfrelay authors
"""Scenario a: frames of mixed sizes cross VF -> guest -> VF intact, and the
relay's counters over telemetry match what was sent, exactly."""

import vfrtest as V

N = 2000


def scenario():
    with V.Env('trf') as env:
        env.bring_up(guest_kw={'fwd': 'macswap'})
        port = env.port()
        env.warm_up(port)
        frames = [V.udp_frame(port.mac, b'\x02\x00\x00\x00\x00\x01', i, size)
                  for i, size in enumerate(V.mixed_sizes(N))]
        total = V.check_roundtrip(port, frames, what='UDP frames')
        V.log(f'==> checking counters of relay net0 ({N} frames, {total} bytes each way)')
        st = env.wait_stats({'rx_packets': N, 'tx_packets': N, 'rx_bytes': total,
                             'tx_bytes': total, 'rx_copy_bytes': total,
                             'rx_zc_packets': 0, 'rx_copy_packets': N,
                             'rx_drop_no_guest_buf': 0, 'rx_drop_guest_down': 0,
                             'tx_drop_vf_full': 0, 'tx_drop_bad_offload': 0})
        if st is not None:
            V.check_eq(st['q0']['mode'], 'copy', 'q0.mode')
            V.check_eq(st['q0']['rx_packets'], N, 'q0.rx_packets')


if __name__ == '__main__':
    V.main(scenario)
