#ifndef KETASIM_CGSL_SHIM_H
#define KETASIM_CGSL_SHIM_H

#include <gsl/gsl_errno.h>
#include <gsl/gsl_odeiv2.h>
#include <gsl/gsl_multiroots.h>
#include <gsl/gsl_vector.h>
#include <gsl/gsl_matrix.h>
#include <gsl/gsl_eigen.h>
#include <gsl/gsl_linalg.h>
#include <gsl/gsl_permutation.h>
#include <gsl/gsl_complex.h>
#include <gsl/gsl_multifit_nlinear.h>

/* Swift 6 refuses GSL's global `const gsl_odeiv2_step_type *` variables as
   shared mutable state; reading them through functions keeps strict
   concurrency checking on without unsafe annotations. */
static inline const gsl_odeiv2_step_type *ketasim_step_rk2(void) { return gsl_odeiv2_step_rk2; }
static inline const gsl_odeiv2_step_type *ketasim_step_rk4(void) { return gsl_odeiv2_step_rk4; }
static inline const gsl_odeiv2_step_type *ketasim_step_rkf45(void) { return gsl_odeiv2_step_rkf45; }
static inline const gsl_odeiv2_step_type *ketasim_step_rkck(void) { return gsl_odeiv2_step_rkck; }
static inline const gsl_odeiv2_step_type *ketasim_step_rk8pd(void) { return gsl_odeiv2_step_rk8pd; }
static inline const gsl_odeiv2_step_type *ketasim_step_rk1imp(void) { return gsl_odeiv2_step_rk1imp; }
static inline const gsl_odeiv2_step_type *ketasim_step_rk2imp(void) { return gsl_odeiv2_step_rk2imp; }
static inline const gsl_odeiv2_step_type *ketasim_step_rk4imp(void) { return gsl_odeiv2_step_rk4imp; }
static inline const gsl_odeiv2_step_type *ketasim_step_bsimp(void) { return gsl_odeiv2_step_bsimp; }
static inline const gsl_odeiv2_step_type *ketasim_step_msadams(void) { return gsl_odeiv2_step_msadams; }
static inline const gsl_odeiv2_step_type *ketasim_step_msbdf(void) { return gsl_odeiv2_step_msbdf; }

static inline const gsl_multiroot_fdfsolver_type *ketasim_multiroot_hybridsj(void) { return gsl_multiroot_fdfsolver_hybridsj; }

/* The nonlinear least-squares method and trust-region subproblems, global
   `const` pointers in GSL, read through functions for the same reason. */
static inline const gsl_multifit_nlinear_type *ketasim_multifit_trust(void) { return gsl_multifit_nlinear_trust; }
static inline const gsl_multifit_nlinear_trs *ketasim_multifit_trs_lm(void) { return gsl_multifit_nlinear_trs_lm; }
static inline const gsl_multifit_nlinear_trs *ketasim_multifit_trs_lmaccel(void) { return gsl_multifit_nlinear_trs_lmaccel; }
static inline const gsl_multifit_nlinear_trs *ketasim_multifit_trs_dogleg(void) { return gsl_multifit_nlinear_trs_dogleg; }
static inline const gsl_multifit_nlinear_scale *ketasim_multifit_scale_more(void) { return gsl_multifit_nlinear_scale_more; }
static inline const gsl_multifit_nlinear_solver *ketasim_multifit_solver_qr(void) { return gsl_multifit_nlinear_solver_qr; }

/* GSL's default handler aborts the process; a library must report instead.
   Idempotent, so every allocation path may call it. */
static inline void ketasim_gsl_errors_off(void) { gsl_set_error_handler_off(); }

/* Raw storage of GSL vectors and matrices (stride 1, tda == size2 for the
   ones ketasim allocates), so Swift can fill them without per-element calls. */
static inline double *ketasim_vector_data(gsl_vector *v) { return v->data; }
static inline const double *ketasim_vector_const_data(const gsl_vector *v) { return v->data; }
static inline double *ketasim_matrix_data(gsl_matrix *m) { return m->data; }

/* Real part of the i-th element of a complex vector (gsl_complex is a struct
   of two doubles that Swift imports awkwardly). */
static inline double ketasim_complex_vector_real(const gsl_vector_complex *v, size_t i) {
    return v->data[2 * i * v->stride];
}

#endif
