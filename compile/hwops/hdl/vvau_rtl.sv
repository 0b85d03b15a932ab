/*
 * vvau_rtl: FINN's VVAU (depthwise convolution: one weight vector per channel) for any FPGA family.
 *
 * Why: finn-plus's RTL VVAU (finn-rtllib mvu_vvu_axi.sv with IS_MVU=0) exists only for Versal's
 * DSP58 (VERSION 3); on UltraScale+ it specialises VVAU to HLS, which only Vitis HLS turns into
 * RTL. This core is a plain behavioural multiply-accumulate that Vivado maps to DSP48E2 slices or
 * LUTs (USE_DSP) and Verilator simulates as it is.
 *
 * Streams (FINN's VVAU_rtl conventions, element 0 in the lowest bits):
 *  - activations: per output pixel, NF = Channels/PE channel folds, each SF = K/SIMD beats of
 *    SIMD kernel positions x PE channels; element (simd, pe) at index simd*PE + pe;
 *  - weights: one word per activation beat (the memstream replays the NF*SF words per pixel);
 *    weight (pe, simd) at index pe*SIMD + simd;
 *  - output: one beat per SF activation beats, PE accumulators of ACCU_WIDTH bits (two's complement
 *    wrap-around: the final sums fit ACCU_WIDTH by FINN's accumulator minimisation).
 *
 * Pipeline: input registers -> PE*SIMD products -> registered adder tree over SIMD -> accumulator
 * -> output queue. The pipeline never stalls; back-pressure works by credits: a beat that completes
 * an accumulation is taken only while the results in flight plus those queued leave room in the
 * queue, so the core takes one beat per cycle as long as the output is read.
 */
module vvau_rtl #(
	int unsigned  PE,
	int unsigned  SIMD,
	int unsigned  SF,              // beats per accumulation: kernel positions / SIMD
	int unsigned  ACT_WIDTH,
	int unsigned  WEIGHT_WIDTH,
	int unsigned  ACCU_WIDTH,
	bit           SIGNED_ACT,
	bit           SIGNED_WEIGHTS,
	bit           USE_DSP = 0,      // multipliers in DSP slices (1) or LUTs (0)

	localparam int unsigned  IN_WIDTH  = PE * SIMD * ACT_WIDTH,
	localparam int unsigned  W_WIDTH   = PE * SIMD * WEIGHT_WIDTH,
	localparam int unsigned  OUT_WIDTH = PE * ACCU_WIDTH
)(
	input	logic  clk,
	input	logic  rst,

	input	logic [IN_WIDTH-1:0]  a_tdata,
	input	logic  a_tvalid,
	output	logic  a_tready,

	input	logic [W_WIDTH-1:0]  w_tdata,
	input	logic  w_tvalid,
	output	logic  w_tready,

	output	logic [OUT_WIDTH-1:0]  y_tdata,
	output	logic  y_tvalid,
	input	logic  y_tready
);

	//- Widths and pipeline shape ---------------------------------------------
	localparam int unsigned  AE = ACT_WIDTH + (SIGNED_ACT ? 0 : 1);          // as signed operand
	localparam int unsigned  WE = WEIGHT_WIDTH + (SIGNED_WEIGHTS ? 0 : 1);
	localparam int unsigned  PROD_WIDTH = AE + WE;
	localparam int unsigned  TREE_LEVELS = $clog2(SIMD);                       // 0 for SIMD = 1
	localparam int unsigned  TREE_LEAVES = 2 ** TREE_LEVELS;
	// cycles from taking a beat to its sum entering the accumulator: input regs, products, tree
	localparam int unsigned  SUM_LATENCY = 2 + TREE_LEVELS;
	// a queue deep enough for every result that may be in flight at full throughput (SF = 1)
	localparam int unsigned  QUEUE_DEPTH = 2 ** $clog2(SUM_LATENCY + 3);
	localparam int unsigned  QUEUE_AW = $clog2(QUEUE_DEPTH);
	localparam int unsigned  SF_WIDTH = SF > 1 ? $clog2(SF) : 1;

	typedef logic signed [ACCU_WIDTH-1:0]  accu_t;

	//- Input handshake with credits ------------------------------------------
	logic [SF_WIDTH-1:0]  SfCnt;          // beat within the current accumulation
	logic [QUEUE_AW:0]    Pending;        // results taken and not yet read at the output
	uwire  last_beat  = SfCnt == SF_WIDTH'(SF - 1);
	uwire  first_beat = SfCnt == '0;
	uwire  room = !last_beat || (Pending < (QUEUE_AW+1)'(QUEUE_DEPTH));
	uwire  take = a_tvalid && w_tvalid && room;
	assign	a_tready = w_tvalid && room;
	assign	w_tready = a_tvalid && room;
	uwire  pop = y_tvalid && y_tready;

	always_ff @(posedge clk) begin
		if(rst) begin
			SfCnt <= '0;
			Pending <= '0;
		end
		else begin
			if(take)  SfCnt <= last_beat ? '0 : SfCnt + 1;
			Pending <= Pending + (QUEUE_AW+1)'(take && last_beat) - (QUEUE_AW+1)'(pop);
		end
	end

	//- Stage 1: operand registers, (pe, simd) unpacked -------------------------
	logic signed [AE-1:0]  A1[PE][SIMD];
	logic signed [WE-1:0]  W1[PE][SIMD];
	always_ff @(posedge clk) begin
		for(int unsigned  pe = 0; pe < PE; pe++) begin
			for(int unsigned  s = 0; s < SIMD; s++) begin
				automatic logic [ACT_WIDTH-1:0]     a = a_tdata[(s*PE+pe)*ACT_WIDTH +: ACT_WIDTH];
				automatic logic [WEIGHT_WIDTH-1:0]  w = w_tdata[(pe*SIMD+s)*WEIGHT_WIDTH +: WEIGHT_WIDTH];
				A1[pe][s] <= SIGNED_ACT ? AE'(signed'(a)) : AE'({1'b0, a});
				W1[pe][s] <= SIGNED_WEIGHTS ? WE'(signed'(w)) : WE'({1'b0, w});
			end
		end
	end

	//- Stage 2: products ------------------------------------------------------
	// In DSP slices or LUTs as USE_DSP says, by the use_dsp attribute on the register the multipliers
	// drive (Vivado reads it; compile/synth.py makes Yosys keep the "no" products in LUTs too). One
	// branch per value, so that the attribute is a literal string, and a packed register, which Yosys
	// keeps as one (an unpacked array becomes a memory); the products are two's complement.
	typedef logic [PE-1:0][SIMD-1:0][PROD_WIDTH-1:0]  prod_t;
	uwire prod_t  P2;
	if(USE_DSP) begin : genDspProducts
		(* use_dsp = "yes" *)  prod_t  P;
		always_ff @(posedge clk) begin
			for(int unsigned  pe = 0; pe < PE; pe++) begin
				for(int unsigned  s = 0; s < SIMD; s++)  P[pe][s] <= A1[pe][s] * W1[pe][s];
			end
		end
		assign	P2 = P;
	end : genDspProducts
	else begin : genLutProducts
		(* use_dsp = "no" *)  prod_t  P;
		always_ff @(posedge clk) begin
			for(int unsigned  pe = 0; pe < PE; pe++) begin
				for(int unsigned  s = 0; s < SIMD; s++)  P[pe][s] <= A1[pe][s] * W1[pe][s];
			end
		end
		assign	P2 = P;
	end : genLutProducts

	//- Stages 3 ..: adder tree over SIMD, one register per level --------------
	// level l holds TREE_LEAVES >> l partial sums per PE; level 0 (the products) is combinational
	for(genvar  l = 0; l <= TREE_LEVELS; l++) begin : genTree
		accu_t  S[PE][TREE_LEAVES >> l];
		if(l == 0) begin : genLeaves
			always_comb begin
				for(int unsigned  pe = 0; pe < PE; pe++) begin
					for(int unsigned  i = 0; i < TREE_LEAVES; i++)  S[pe][i] = i < SIMD ? accu_t'($signed(P2[pe][i])) : '0;
				end
			end
		end : genLeaves
		else begin : genSums
			always_ff @(posedge clk) begin
				for(int unsigned  pe = 0; pe < PE; pe++) begin
					for(int unsigned  i = 0; i < (TREE_LEAVES >> l); i++) begin
						S[pe][i] <= genTree[l-1].S[pe][2*i] + genTree[l-1].S[pe][2*i+1];
					end
				end
			end
		end : genSums
	end : genTree

	// beat flags travel alongside the data: valid, first and last of an accumulation
	logic [SUM_LATENCY-1:0]  Vld;
	logic [SUM_LATENCY-1:0]  Fst;
	logic [SUM_LATENCY-1:0]  Lst;
	always_ff @(posedge clk) begin
		if(rst) begin
			Vld <= '0;
			Fst <= '0;
			Lst <= '0;
		end
		else begin
			Vld <= { Vld[SUM_LATENCY-2:0], take };
			Fst <= { Fst[SUM_LATENCY-2:0], first_beat };
			Lst <= { Lst[SUM_LATENCY-2:0], last_beat };
		end
	end
	uwire  sum_vld = Vld[SUM_LATENCY-1];
	uwire  sum_fst = Fst[SUM_LATENCY-1];
	uwire  sum_lst = Lst[SUM_LATENCY-1];

	//- Accumulator -------------------------------------------------------------
	accu_t  Acc[PE];
	accu_t  acc_next[PE];
	always_comb begin
		for(int unsigned  pe = 0; pe < PE; pe++) begin
			acc_next[pe] = (sum_fst ? accu_t'(0) : Acc[pe]) + genTree[TREE_LEVELS].S[pe][0];
		end
	end
	always_ff @(posedge clk) begin
		if(sum_vld)  Acc <= acc_next;
	end

	//- Output queue --------------------------------------------------------------
	// Written in the cycle an accumulation completes (from acc_next), read asynchronously
	// (distributed RAM). The credits above guarantee it never overflows.
	logic [OUT_WIDTH-1:0]  Queue[QUEUE_DEPTH];
	logic [QUEUE_AW:0]  WrPtr;
	logic [QUEUE_AW:0]  RdPtr;
	uwire  push = sum_vld && sum_lst;
	logic [OUT_WIDTH-1:0]  acc_packed;
	always_comb begin
		for(int unsigned  pe = 0; pe < PE; pe++)  acc_packed[pe*ACCU_WIDTH +: ACCU_WIDTH] = acc_next[pe];
	end
	always_ff @(posedge clk) begin
		if(push)  Queue[WrPtr[QUEUE_AW-1:0]] <= acc_packed;
	end
	always_ff @(posedge clk) begin
		if(rst) begin
			WrPtr <= '0;
			RdPtr <= '0;
		end
		else begin
			if(push)  WrPtr <= WrPtr + 1;
			if(pop)   RdPtr <= RdPtr + 1;
		end
	end
	assign	y_tvalid = WrPtr != RdPtr;
	assign	y_tdata = Queue[RdPtr[QUEUE_AW-1:0]];

endmodule : vvau_rtl
