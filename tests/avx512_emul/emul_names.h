/* tests/avx512_emul/emul_names.h — renames the AVX-512 kernels' entry points so
 * the emulated build (emul_kernels.c) links beside the real ones in libnabla;
 * the test includes it too, so `nb__ew_*_avx512` there means the emulated build. */
#ifndef NB_AVX512_EMUL_NAMES_H
#define NB_AVX512_EMUL_NAMES_H

#define nb__ew_unary_avx512 emu_nb__ew_unary_avx512
#define nb__ew_unary_backward_avx512 emu_nb__ew_unary_backward_avx512
#define nb__ew_unary_backward_store_avx512 emu_nb__ew_unary_backward_store_avx512
#define nb__ew_binary_avx512 emu_nb__ew_binary_avx512
#define nb__ew_binary_grad_a_avx512 emu_nb__ew_binary_grad_a_avx512
#define nb__ew_binary_grad_b_avx512 emu_nb__ew_binary_grad_b_avx512
#define nb__ew_sum_leaf_avx512 emu_nb__ew_sum_leaf_avx512
#define nb__ew_max_avx512 emu_nb__ew_max_avx512
#define nb__ew_exp_sum_avx512 emu_nb__ew_exp_sum_avx512
#define nb__ew_exp_sum_next_avx512 emu_nb__ew_exp_sum_next_avx512
#define nb__ew_xent_grad_e_avx512 emu_nb__ew_xent_grad_e_avx512
#define nb__ew_scale_avx512 emu_nb__ew_scale_avx512
#define nb__ew_sub_avx512 emu_nb__ew_sub_avx512
#define nb__ew_dot_avx512 emu_nb__ew_dot_avx512
#define nb__ew_sum_avx512 emu_nb__ew_sum_avx512
#define nb__ew_softmax_bwd_avx512 emu_nb__ew_softmax_bwd_avx512
#define nb__ew_log_softmax_bwd_avx512 emu_nb__ew_log_softmax_bwd_avx512
#define nb__ew_xent_grad_avx512 emu_nb__ew_xent_grad_avx512
#define nb__sgemm_avx512 emu_nb__sgemm_avx512

extern long emu_avx512_partial_loads, emu_avx512_partial_stores;

#endif
