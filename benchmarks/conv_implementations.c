/* Every implementation oneDNN offers for one fp32 inference convolution, timed alone:
 * forward, channels-last activations (or the layout each implementation prefers, with a
 * last argument 1), bias, ReLU fused and optionally the residual sum before it, 2 threads
 * as OMP_NUM_THREADS says, fastest of 100 calls after 6 untimed ones. Kernel 1x1 or 3x3
 * (padding 1), stride 1. WINOGRAD 1 asks for oneDNN's Winograd algorithm instead of the
 * direct one (3x3 only; its implementations work in the blocked layout, so use ANY 1).
 * EVICT 1 reads through 256 MiB before each call, so that the weights come from memory
 * as they do inside a network larger than the cache.
 *
 *     gcc -O2 benchmarks/conv_implementations.c -o /tmp/conv_implementations -ldnnl
 *     OMP_NUM_THREADS=2 /tmp/conv_implementations BATCH IN OUT HEIGHT WIDTH KERNEL SUM [ANY [WINOGRAD [EVICT]]]
 *
 * for example `... 32 32 1024 16 8 1 1` (layer3's conv3 of a pruned ResNet-50 at last
 * stride 1, batch 32). Prints each implementation's name, ms and GFLOP/s. */
#include <dnnl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
/* One float per 64-byte line of 256 MiB, read: the caches lose what they held. */
static volatile float evict_sink;
static void evict_caches(void){static float*buf=0; size_t n=(size_t)64<<20; if(!buf){buf=malloc(n*sizeof(float)); if(!buf)return; for(size_t i=0;i<n;i++)buf[i]=1;} float s=0; for(size_t i=0;i<n;i+=16)s+=buf[i]; evict_sink=s;}
static double now(){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec*1e3+t.tv_nsec/1e6;}
int main(int argc,char**argv){
  if(argc<8){fprintf(stderr,"usage: conv_implementations BATCH IN OUT HEIGHT WIDTH KERNEL(1|3) SUM(0|1) [ANY(0|1) [WINOGRAD(0|1) [EVICT(0|1)]]]\n");return 2;}
  int mb=atoi(argv[1]),ic=atoi(argv[2]),oc=atoi(argv[3]),h=atoi(argv[4]),w=atoi(argv[5]),ks=atoi(argv[6]),sum=atoi(argv[7]),anyfmt=argc>8?atoi(argv[8]):0;
  int wino=argc>9?atoi(argv[9]):0,evict=argc>10?atoi(argv[10]):0;
  if(mb<1||ic<1||oc<1||h<1||w<1||(ks!=1&&ks!=3)){fprintf(stderr,"conv_implementations: sizes must be positive and the kernel 1 or 3\n");return 2;}
  dnnl_engine_t eng; dnnl_engine_create(&eng,dnnl_cpu,0); dnnl_stream_t st; dnnl_stream_create(&st,eng,dnnl_stream_default_flags);
  dnnl_memory_desc_t src,wei,bia,dst;
  dnnl_dims_t sd={mb,ic,h,w}, wd={oc,ic,ks,ks}, bd={oc}, dd={mb,oc,h,w};
  dnnl_memory_desc_init_by_tag(&src,4,sd,dnnl_f32,anyfmt?dnnl_format_tag_any:dnnl_nhwc);
  dnnl_memory_desc_init_by_tag(&wei,4,wd,dnnl_f32,dnnl_format_tag_any);
  dnnl_memory_desc_init_by_tag(&bia,1,bd,dnnl_f32,dnnl_a);
  dnnl_memory_desc_init_by_tag(&dst,4,dd,dnnl_f32,anyfmt?dnnl_format_tag_any:dnnl_nhwc);
  dnnl_dims_t s={1,1},p={ks/2,ks/2};
  dnnl_convolution_desc_t cd;
  dnnl_convolution_forward_desc_init(&cd,dnnl_forward_inference,wino?dnnl_convolution_winograd:dnnl_convolution_direct,&src,&wei,&bia,&dst,s,p,p);
  dnnl_primitive_attr_t attr; dnnl_primitive_attr_create(&attr);
  dnnl_post_ops_t po; dnnl_post_ops_create(&po); if(sum) dnnl_post_ops_append_sum(po,1.f); dnnl_post_ops_append_eltwise(po,1.f,dnnl_eltwise_relu,0,0); dnnl_primitive_attr_set_post_ops(attr,po);
  dnnl_primitive_desc_iterator_t it;
  if(dnnl_primitive_desc_iterator_create(&it,&cd,attr,eng,NULL)!=dnnl_success){fprintf(stderr,"conv_implementations: oneDNN has no implementation for this convolution\n");return 1;}
  do{
    dnnl_primitive_desc_t pd=dnnl_primitive_desc_iterator_fetch(it);
    const char*name; dnnl_primitive_desc_query(pd,dnnl_query_impl_info_str,0,&name);
    const dnnl_memory_desc_t*qs=dnnl_primitive_desc_query_md(pd,dnnl_query_src_md,0),*qw=dnnl_primitive_desc_query_md(pd,dnnl_query_weights_md,0),*qd=dnnl_primitive_desc_query_md(pd,dnnl_query_dst_md,0);
    dnnl_memory_t ms,mw,mb_,md; dnnl_memory_create(&ms,qs,eng,DNNL_MEMORY_ALLOCATE);dnnl_memory_create(&mw,qw,eng,DNNL_MEMORY_ALLOCATE);dnnl_memory_create(&mb_,&bia,eng,DNNL_MEMORY_ALLOCATE);dnnl_memory_create(&md,qd,eng,DNNL_MEMORY_ALLOCATE);
    float*p0; dnnl_memory_get_data_handle(ms,(void**)&p0); for(size_t i=0;i<(size_t)mb*ic*h*w;i++)p0[i]=0.1f;
    dnnl_memory_get_data_handle(md,(void**)&p0); for(size_t i=0;i<(size_t)mb*oc*h*w;i++)p0[i]=0.1f;
    dnnl_primitive_t prim; if(dnnl_primitive_create(&prim,pd)!=dnnl_success){printf("  %s: create failed\n",name);continue;}
    dnnl_exec_arg_t args[4]={{DNNL_ARG_SRC,ms},{DNNL_ARG_WEIGHTS,mw},{DNNL_ARG_BIAS,mb_},{DNNL_ARG_DST,md}};
    double best=1e9; for(int r=0;r<100;r++){if(evict)evict_caches(); double t0=now(); dnnl_primitive_execute(prim,st,4,args); dnnl_stream_wait(st); double t=now()-t0; if(r>5&&t<best)best=t;}
    printf("  %-28s %s min %.3f ms %.0f GF/s\n",name,anyfmt?"any":"nhwc",best,2.0*mb*ic*oc*h*w*ks*ks/best/1e6);
    dnnl_primitive_destroy(prim);
  } while(dnnl_primitive_desc_iterator_next(it)==dnnl_success);
  return 0;
}
