#ifndef KETASIM_CGSL_SHIM_H
#define KETASIM_CGSL_SHIM_H

#include <float.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
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

/* GSL's own CBLAS is a reference implementation: msbdf's dense LU spent a
   quarter of a run in it. ketasim links OpenBLAS instead, whose cblas_*
   symbols come before libgslcblas's in the lookup order. Its pthread build
   takes locks around shared buffers, so sweep workers may call it at once,
   but it must not start threads of its own beside theirs: one thread. */
void openblas_set_num_threads(int num_threads);
static pthread_once_t ketasim_blas_once = PTHREAD_ONCE_INIT;
static void ketasim_blas_single_threaded(void) { openblas_set_num_threads(1); }

/* LAPACK's eigenvalue driver, from the same OpenBLAS (it carries LAPACK): the
   steady-state stability check needs the eigenvalues of a dense Jacobian for
   every sample of a sweep, and GSL's nonsymmetric solver took 4 M instructions
   for 43 states, a tenth of such a sample. Fortran calling convention: every
   argument by reference, the lengths of the two character arguments last. */
void dgeev_(const char *jobvl, const char *jobvr, const int *n, double *a, const int *lda,
            double *wr, double *wi, double *vl, const int *ldvl, double *vr, const int *ldvr,
            double *work, const int *lwork, int *info, size_t jobvl_len, size_t jobvr_len);

/* Before any GSL work: GSL's default handler aborts the process, and a
   library must report instead; BLAS on the caller's thread only.
   Idempotent and cheap, so every allocation path may call it. */
static inline void ketasim_gsl_prepare(void) {
    gsl_set_error_handler_off();
    pthread_once(&ketasim_blas_once, ketasim_blas_single_threaded);
}

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

/* GSL's standard step-size control with other tolerances for the components
   from `split` on: a forward-sensitivity system (x, S) controls x as any run
   and S = dx/dtheta as a fit's gradient needs. Tolerances as GSL's standard
   control with a_y = 1, a_dydt = 0 (gsl_odeiv2_driver_alloc_y_new): the
   desired error of y_i is eps_rel |y_i| + eps_abs. msbdf reads it per
   component through errlevel, the explicit steppers through hadjust. */
typedef struct {
    double eps_abs, eps_rel, split_abs, split_rel;
    size_t split;
} ketasim_split_control;

static void *ketasim_split_alloc(void) {
    ketasim_split_control *s = (ketasim_split_control *)calloc(1, sizeof(ketasim_split_control));
    if (s == NULL) { GSL_ERROR_NULL("failed to allocate the control state", GSL_ENOMEM); }
    return s;
}

static int ketasim_split_init(void *vs, double eps_abs, double eps_rel, double a_y, double a_dydt) {
    (void)a_y; (void)a_dydt;
    if (eps_abs < 0 || eps_rel < 0) { GSL_ERROR("negative tolerance", GSL_EINVAL); }
    ketasim_split_control *s = (ketasim_split_control *)vs;
    s->eps_abs = eps_abs;
    s->eps_rel = eps_rel;
    return GSL_SUCCESS;
}

static inline double ketasim_split_level(const ketasim_split_control *s, double y, size_t i) {
    return i < s->split ? s->eps_rel * fabs(y) + s->eps_abs : s->split_rel * fabs(y) + s->split_abs;
}

static int ketasim_split_hadjust(void *vs, size_t dim, unsigned int ord, const double y[], const double yerr[],
                                 const double yp[], double *h) {
    (void)yp;
    const ketasim_split_control *s = (const ketasim_split_control *)vs;
    const double safety = 0.9, h_old = *h;
    double rmax = DBL_MIN;
    for (size_t i = 0; i < dim; i++) {
        const double r = fabs(yerr[i]) / ketasim_split_level(s, y[i], i);
        if (r > rmax) rmax = r;
    }
    if (rmax > 1.1) {
        double r = safety / pow(rmax, 1.0 / ord);
        if (r < 0.2) r = 0.2;
        *h = r * h_old;
        return GSL_ODEIV_HADJ_DEC;
    }
    if (rmax < 0.5) {
        double r = safety / pow(rmax, 1.0 / (ord + 1.0));
        if (r > 5.0) r = 5.0;
        if (r < 1.0) r = 1.0;
        *h = r * h_old;
        return GSL_ODEIV_HADJ_INC;
    }
    return GSL_ODEIV_HADJ_NIL;
}

static int ketasim_split_errlevel(void *vs, const double y, const double dydt, const double h, const size_t ind, double *errlev) {
    (void)dydt; (void)h;
    *errlev = ketasim_split_level((const ketasim_split_control *)vs, y, ind);
    if (*errlev <= 0.0) { GSL_ERROR("errlev <= 0", GSL_ESANITY); }
    return GSL_SUCCESS;
}

static int ketasim_split_set_driver(void *vs, const gsl_odeiv2_driver *d) { (void)vs; (void)d; return GSL_SUCCESS; }

static void ketasim_split_free(void *vs) { free(vs); }

static const gsl_odeiv2_control_type ketasim_split_type = {
    "ketasim_split", &ketasim_split_alloc, &ketasim_split_init, &ketasim_split_hadjust,
    &ketasim_split_errlevel, &ketasim_split_set_driver, &ketasim_split_free
};

/* Replaces a driver's step-size control by the split one; false (the driver
   unchanged) when it cannot be allocated. */
static inline int ketasim_driver_split_control(gsl_odeiv2_driver *d, double eps_abs, double eps_rel,
                                               size_t split, double split_abs, double split_rel) {
    gsl_odeiv2_control *c = gsl_odeiv2_control_alloc(&ketasim_split_type);
    if (c == NULL) return 0;
    if (gsl_odeiv2_control_init(c, eps_abs, eps_rel, 1.0, 0.0) != GSL_SUCCESS) { gsl_odeiv2_control_free(c); return 0; }
    ketasim_split_control *s = (ketasim_split_control *)c->state;
    s->split = split;
    s->split_abs = split_abs;
    s->split_rel = split_rel;
    gsl_odeiv2_control_free(d->c);
    d->c = c;
    return 1;
}

#endif
